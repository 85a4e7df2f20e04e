// Operator provisioning: merchants, offers, and the state of a dynamic-number pool.
// Validate, call the ledger, shape the answer.
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { DEFAULT_CODE_TTL_SECONDS, DEFAULT_FORMULA_WINDOW_SECONDS } from '../../domain/index.js';
import {
  createMerchant,
  createOffer,
  creditLostCall,
  listCalls,
  listCodes,
  listMerchants,
  poolStatus,
  setMerchantNameSound,
  setNumberSettings,
  setOfferNameSound,
  type MerchantView,
  type OfferView,
} from '../../db/ledger/index.js';
import { purchasesCompleted } from '../../core/metrics.js';
import { toE164 } from '../../core/phone.js';
import { merchantOr404, offerOr404, parse, pathId, phoneOr422 } from '../input.js';
import { invalidPhone, notFound } from '../problem.js';
import { callerRoutes, callJson } from './callers.js';
import {
  callsQuery,
  codesQuery,
  createMerchantBody,
  createOfferBody,
  creditCallBody,
  merchantsQuery,
  nameSoundBody,
  numberSettingsBody,
  type CallCreditResponse,
  type CallListResponse,
  type CodeListResponse,
  type CreatedMerchantResponse,
  type MerchantListResponse,
  type MerchantResponse,
  type NameSoundResponse,
  type NumberSettingsResponse,
  type OfferResponse,
  type PoolResponse,
} from '../schemas.js';

export function adminRoutes(db: Database, defaultRegion: string, opts: { retentionDays: number }): Router {
  const router = Router();
  router.use('/callers', callerRoutes(db, defaultRegion, opts.retentionDays));

  router.post('/merchants', async (req, res) => {
    const body = parse(createMerchantBody, req.body);
    const merchant = await createMerchant(db, body.name);
    res.status(201).location(`/v1/admin/merchants/${merchant.id}`).json(merchant satisfies CreatedMerchantResponse);
  });

  /** GET /v1/admin/merchants?limit=100 — newest first; keys are never shown again. */
  router.get('/merchants', async (req, res) => {
    res.json({ merchants: (await listMerchants(db, parse(merchantsQuery, req.query))).map(merchantJson) } satisfies MerchantListResponse);
  });

  router.get('/merchants/:id', async (req, res) => {
    res.json(merchantJson(await merchantOr404(db, req.params.id)));
  });

  router.post('/offers', async (req, res) => {
    const o = parse(createOfferBody, req.body);
    const numbers = o.numbers.map((raw) => ({ raw, e164: toE164(raw, defaultRegion) }));
    const unusable = numbers.filter((n) => !n.e164).map((n) => n.raw);
    if (unusable.length > 0) throw invalidPhone('numbers', unusable);
    const offer = await createOffer(db, {
      merchantId: o.merchantId,
      name: o.name,
      mode: o.mode,
      // A per-second purchase is one "call" (counted at completion) of secondsRequired seconds.
      ...(o.unit === 'second'
        ? { unit: 'second' as const, secondsRequired: o.secondsRequired!, callsRequired: 1, minCallSeconds: 0 }
        : { unit: 'call' as const, callsRequired: o.callsRequired!, minCallSeconds: o.minCallSeconds! }),
      language: o.language,
      priceLine: o.priceLine ?? null,
      numbers: [...new Set(numbers.map((n) => n.e164!))],
      ...(o.mode === 'caller_id'
        ? { purchaseTtlSeconds: o.purchaseTtlSeconds! }
        : o.mode === 'access_code'
          ? { codeTtlSeconds: o.codeTtlSeconds ?? DEFAULT_CODE_TTL_SECONDS, formulaWindowSeconds: o.formulaWindowSeconds ?? DEFAULT_FORMULA_WINDOW_SECONDS }
          : { holdSeconds: o.holdSeconds!, maxHoldSeconds: o.maxHoldSeconds ?? o.holdSeconds!, quarantineSeconds: o.quarantineSeconds ?? 300 }),
    });
    res.status(201).location(`/v1/admin/offers/${offer.id}`).json(offerJson(offer));
  });

  router.get('/offers/:id', async (req, res) => {
    res.json(offerJson(await offerOr404(db, req.params.id)));
  });

  router.get('/offers/:id/pool', async (req, res) => {
    const offer = await offerOr404(db, req.params.id);
    if (offer.mode !== 'dynamic_number') throw notFound(`Offer ${offer.id} has no number pool (mode ${offer.mode}).`);
    const numbers = await poolStatus(db, offer.id);
    const count = (state: string) => numbers.filter((n) => n.state === state).length;
    res.json({ offerId: offer.id, free: count('free'), lent: count('lent'), resting: count('resting'), numbers } satisfies PoolResponse);
  });

  /**
   * PUT /v1/admin/numbers/{number} {priceAnnouncement?, holdSound?} — how the number sounds: the
   * free price announcement played as early media before a call is answered (null: the carrier
   * plays it), and the sound a per-second caller hears between the time-remaining announcements
   * (null: silence). A setting left out keeps its value.
   */
  router.put('/numbers/:number', async (req, res) => {
    const number = phoneOr422('number', req.params.number, defaultRegion);
    const settings = parse(numberSettingsBody, req.body);
    res.json((await setNumberSettings(db, { number, ...settings })) satisfies NumberSettingsResponse);
  });

  /**
   * PUT /v1/admin/merchants/{id}/name-sound {sound} and /v1/admin/offers/{id}/name-sound: the
   * recorded names a caller hears before the answer ("a purchase made on <merchant> for
   * <offer>"); null: the generic sentence (merchant) or nothing (offer).
   */
  router.put('/merchants/:id/name-sound', async (req, res) => {
    const id = pathId('merchant', req.params.id);
    const { sound } = parse(nameSoundBody, req.body);
    const set = await setMerchantNameSound(db, id, sound);
    if (!set) throw notFound(`No merchant with id ${id}.`);
    res.json(set satisfies NameSoundResponse);
  });

  router.put('/offers/:id/name-sound', async (req, res) => {
    const id = pathId('offer', req.params.id);
    const { sound } = parse(nameSoundBody, req.body);
    const set = await setOfferNameSound(db, id, sound);
    if (!set) throw notFound(`No offer with id ${id}.`);
    res.json(set satisfies NameSoundResponse);
  });

  /** GET /v1/admin/calls?outcome=lost&dialed=0899123456&purchaseId=…&limit=100 — the call record. */
  router.get('/calls', async (req, res) => {
    const q = parse(callsQuery, req.query);
    const dialed = q.dialed === undefined ? undefined : phoneOr422('dialed', q.dialed, defaultRegion);
    const rows = await listCalls(db, { ...q, dialed });
    res.json({ calls: rows.map(callJson) } satisfies CallListResponse);
  });

  /**
   * POST /v1/admin/calls/{channelId or id}/credit {reason} — credits a lost call the carrier
   * billed to its purchase (creditLostCall); 409 call-not-creditable when it is not eligible.
   */
  router.post('/calls/:id/credit', async (req, res) => {
    const { reason } = parse(creditCallBody, req.body);
    const result = await creditLostCall(db, String(req.params.id), { by: 'admin-api', reason });
    if (result.completed) purchasesCompleted.inc({ mode: result.purchase.mode });
    res.json(result satisfies CallCreditResponse);
  });

  /** GET /v1/admin/codes?caller=0612345678&offerId=…&limit=100 — codes issued, for support. */
  router.get('/codes', async (req, res) => {
    const q = parse(codesQuery, req.query);
    const caller = q.caller === undefined ? undefined : phoneOr422('caller', q.caller, defaultRegion);
    res.json({ codes: await listCodes(db, { ...q, caller }) } satisfies CodeListResponse);
  });

  return router;
}

function merchantJson(m: MerchantView): MerchantResponse {
  return { id: m.id, name: m.name, allowedOrigins: m.allowedOrigins, webhookUrl: m.webhookUrl, createdAt: m.createdAt.toISOString() };
}

/** Each mode's lifetime is never null in a stored offer of that mode (check offers_lifetime_by_mode). */
function offerJson(o: OfferView): OfferResponse {
  const common = {
    id: o.id,
    merchantId: o.merchantId,
    name: o.name,
    callsRequired: o.callsRequired,
    minCallSeconds: o.minCallSeconds,
    numbers: o.numbers,
    language: o.language,
    priceLine: o.priceLine,
    createdAt: o.createdAt.toISOString(),
    ...(o.unit === 'second' && o.secondsRequired !== null ? { unit: 'second' as const, secondsRequired: o.secondsRequired } : {}),
  };
  switch (o.mode) {
    case 'caller_id':
      return { ...common, mode: o.mode, purchaseTtlSeconds: o.purchaseTtlSeconds! };
    case 'dynamic_number':
      return { ...common, mode: o.mode, holdSeconds: o.holdSeconds!, maxHoldSeconds: o.maxHoldSeconds, quarantineSeconds: o.quarantineSeconds };
    case 'access_code':
      return { ...common, mode: o.mode, codeTtlSeconds: o.codeTtlSeconds!, formulaWindowSeconds: o.formulaWindowSeconds! };
  }
}
