// The demo merchant site (DEMO=true, set by `npm run stack`): a page selling one premium
// article, and the small backend a real merchant would run. A real merchant's backend calls
// sanscode's HTTP API with its key; this one runs inside sanscode, so it calls the ledger
// directly and needs no key at all: none is kept, in memory or in the database. The page only
// ever gets a client token, which it hands to the widget (/widget.js).
//   GET  /demo                      the page (demo/page.html)
//   POST /demo/api/purchases        {mode: "caller_id"|"dynamic_number", phone?} → {clientToken, …}
//   GET  /demo/api/purchases/{id}   the purchase as the merchant's server sees it (unlock check)
//   GET  /demo/api/code-offer       the access-code offer: number to call, calls, price line
//   POST /demo/api/codes/redeem     {code} → the merchant's backend redeems the caller's code
// The demo merchant and its two offers are created through the ledger on first use and their
// ids remembered (provisionOnce) so that a restart reuses them: a pool number cannot belong to
// two offers.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { toE164 } from '../core/phone.js';
import { offerModes, type PurchaseView } from '../domain/index.js';
import type { Database } from '../db/client.js';
import { createMerchant, createOffer, createPurchase, getPurchase, LedgerError, provisionOnce, redeemCode } from '../db/ledger/index.js';

export interface DemoState {
  merchantId: string;
  callerIdOfferId: string;
  dynamicOfferId: string;
}

export const DEMO_CALLER_ID_NUMBER = '+33899123456';
export const DEMO_POOL = ['+33899200001', '+33899200002', '+33899200003', '+33899200004', '+33899200005'];
export const DEMO_ACCESS_CODE_NUMBER = '+33899300001';
const CODE_PRICE_LINE = "2 appels à 2,99 € TTC l'appel, code donné au 2e appel";

/**
 * The demo's access-code offer (classic ticketing: "J'ai un code"), created once per database
 * under its own name, so that a database provisioned before codes existed gains it too.
 */
export function demoCodeOffer(db: Database, merchantId: string): Promise<{ offerId: string }> {
  return provisionOnce(db, 'demo-access-code', async (tx) => {
    const offer = await createOffer(tx, {
      merchantId,
      name: 'Article premium (code d’accès)',
      mode: 'access_code',
      callsRequired: 2,
      minCallSeconds: 3,
      numbers: [DEMO_ACCESS_CODE_NUMBER],
      codeTtlSeconds: 86_400,
      formulaWindowSeconds: 3_600,
      language: 'fr',
      priceLine: CODE_PRICE_LINE,
    });
    return { offerId: offer.id };
  });
}

/** The demo merchant and offers, created once per database (several processes may race). */
export function demoState(db: Database): Promise<DemoState> {
  return provisionOnce(db, 'demo', async (tx): Promise<DemoState> => {
    // The merchant's API key is dropped here: the demo never calls the HTTP API.
    const merchant = await createMerchant(tx, 'Démo sanscode');
    const common = { merchantId: merchant.id, callsRequired: 2, minCallSeconds: 3, language: 'fr' as const, priceLine: "2 appels à 2,99 € TTC l'appel" };
    const callerId = await createOffer(tx, { ...common, name: 'Article premium (numéro de l’appelant)', mode: 'caller_id', numbers: [DEMO_CALLER_ID_NUMBER], purchaseTtlSeconds: 900 });
    const dynamic = await createOffer(tx, {
      ...common,
      name: 'Article premium (numéro réservé)',
      mode: 'dynamic_number',
      numbers: DEMO_POOL,
      holdSeconds: 300,
      maxHoldSeconds: 900,
      quarantineSeconds: 60,
    });
    return { merchantId: merchant.id, callerIdOfferId: callerId.id, dynamicOfferId: dynamic.id };
  });
}

/** What the demo needs from the API's client tokens (api/client-token.ts): issuing one. */
export interface ClientTokenIssuer {
  issue(purchaseId: string, merchantId: string, purchaseExpiresAt: string): Promise<string>;
}

export interface DemoOptions {
  db: Database;
  log: Logger;
  tokens: ClientTokenIssuer;
  /** Region of the phone numbers buyers type in national format. */
  defaultRegion: string;
}

const buyBody = z.strictObject({
  // Access codes need no purchase: the page shows their number and takes the code.
  mode: z.enum(offerModes.filter((m) => m !== 'access_code') as ['caller_id', 'dynamic_number']),
  phone: z.string().trim().max(32).optional(),
});

const redeemBody = z.strictObject({ code: z.string().max(32) });

/** The page, from the source tree or, for a build in dist/, from the repository's demo/. */
const pageFile = ['page.html', '../../demo/page.html'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p));

export function demoRoutes({ db, log, tokens, defaultRegion }: DemoOptions): Router {
  const router = Router();
  let state: Promise<DemoState> | null = null;
  const demo = () => {
    state ??= demoState(db).catch((err) => {
      state = null;
      throw err;
    });
    return state;
  };

  const fail = (res: Response, status: number, error: string, extra: Record<string, unknown> = {}) => {
    res.status(status).json({ error, ...extra });
  };

  router.get('/', (_req, res) => {
    if (!pageFile) return fail(res, 500, 'demo page missing');
    res.set('Cache-Control', 'no-store').type('html').send(readFileSync(pageFile, 'utf8'));
  });

  router.post('/api/purchases', express.json({ limit: '2kb' }), async (req, res) => {
    const body = buyBody.safeParse(req.body);
    if (!body.success) return fail(res, 400, 'Requête invalide.');
    const { mode, phone } = body.data;
    if (mode === 'caller_id' && !phone) return fail(res, 400, 'Indiquez votre numéro de téléphone.');
    const callerNumber = mode === 'caller_id' ? toE164(phone!, defaultRegion) : null;
    if (mode === 'caller_id' && !callerNumber) return fail(res, 422, 'Ce numéro de téléphone n’est pas valide.');
    const { merchantId, callerIdOfferId, dynamicOfferId } = await demo();
    const offerId = mode === 'caller_id' ? callerIdOfferId : dynamicOfferId;
    let purchase: PurchaseView | null;
    let resumed = false;
    try {
      purchase = await createPurchase(db, merchantId, { offerId, callerNumber, reference: 'demo-article' });
    } catch (err) {
      if (!(err instanceof LedgerError)) throw err;
      const pendingPurchaseId = err.extra.pendingPurchaseId;
      if (typeof pendingPurchaseId === 'string') {
        // This buyer already has a purchase going for this article: carry on with it.
        purchase = await getPurchase(db, merchantId, pendingPurchaseId);
        resumed = true;
      } else if (err.code === 'pool_exhausted') {
        const retryAfterSeconds = Number(err.extra.retryAfterSeconds ?? 60);
        res.set('Retry-After', String(retryAfterSeconds));
        return fail(res, 503, `Tous les numéros sont occupés : réessayez dans ${retryAfterSeconds} s.`, { retryAfterSeconds });
      } else if (err.code === 'caller_has_pending_purchase') {
        return fail(res, 409, 'Ce numéro a déjà un achat en cours chez un autre marchand : réessayez quand il sera terminé.');
      } else {
        throw err; // cannot happen with the demo's own offers; the app's problem handler answers
      }
    }
    if (!purchase) return fail(res, 409, 'Impossible de reprendre l’achat en cours.');
    const clientToken = await tokens.issue(purchase.id, merchantId, purchase.expiresAt);
    log.info({ purchaseId: purchase.id, mode, resumed }, 'demo purchase');
    return res.status(resumed ? 200 : 201).json({
      purchaseId: purchase.id,
      clientToken,
      mode: purchase.mode,
      numberToCall: purchase.numberToCall,
      callerNumber: purchase.callerNumber,
      resumed,
    });
  });

  router.get('/api/code-offer', async (_req, res) => {
    const { merchantId } = await demo();
    await demoCodeOffer(db, merchantId);
    res.json({ numberToCall: DEMO_ACCESS_CODE_NUMBER, callsRequired: 2, priceLine: CODE_PRICE_LINE });
  });

  /** What a merchant migrating from a code platform runs: redeem the code, unlock on 200. */
  router.post('/api/codes/redeem', express.json({ limit: '2kb' }), async (req, res) => {
    const body = redeemBody.safeParse(req.body);
    if (!body.success) return fail(res, 400, 'Saisissez le code à 8 chiffres entendu au téléphone.');
    const { merchantId } = await demo();
    await demoCodeOffer(db, merchantId);
    try {
      const code = await redeemCode(db, merchantId, body.data.code.replace(/\s+/g, ''), 'demo-article');
      log.info({ offerId: code.offerId }, 'demo code redeemed');
      return res.json({ status: code.status, callsCounted: code.callsCounted });
    } catch (err) {
      if (!(err instanceof LedgerError)) throw err;
      switch (err.code) {
        case 'code_already_used':
          return fail(res, 409, 'Ce code a déjà été utilisé.');
        case 'code_expired':
          return fail(res, 410, 'Ce code a expiré.');
        case 'too_many_failed_redemptions': {
          const retryAfterSeconds = Number(err.extra.retryAfterSeconds ?? 60);
          res.set('Retry-After', String(retryAfterSeconds));
          return fail(res, 429, `Trop d’essais : réessayez dans ${retryAfterSeconds} s.`, { retryAfterSeconds });
        }
        default:
          return fail(res, 404, 'Code inconnu : vérifiez les 8 chiffres.');
      }
    }
  });

  router.get('/api/purchases/:id', async (req, res) => {
    if (!z.uuid().safeParse(req.params.id).success) return fail(res, 404, 'Achat inconnu.');
    const { merchantId } = await demo();
    const p = await getPurchase(db, merchantId, req.params.id);
    if (!p) return fail(res, 404, 'Achat inconnu.');
    res.set('Cache-Control', 'no-store').json({ purchaseId: p.id, status: p.status, callsCounted: p.callsCounted, callsRequired: p.callsRequired });
  });

  return router;
}
