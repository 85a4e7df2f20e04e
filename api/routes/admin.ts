// Operator provisioning: merchants and offers. Validate, call the ledger, shape the answer.
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { createMerchant, createOffer, getOffer, LedgerError } from '../../db/ledger.js';
import { toE164 } from '../../core/phone.js';
import { HttpProblem, invalidRequest, notFound } from '../problem.js';
import { createMerchantBody, createOfferBody, uuidParam } from '../schemas.js';

export function adminRoutes(db: Database, defaultRegion: string): Router {
  const router = Router();

  router.post('/merchants', async (req, res) => {
    const body = createMerchantBody.safeParse(req.body);
    if (!body.success) throw invalidRequest(body.error);
    const merchant = await createMerchant(db, body.data.name);
    res.status(201).location(`/v1/admin/merchants/${merchant.id}`).json(merchant);
  });

  router.post('/offers', async (req, res) => {
    const body = createOfferBody.safeParse(req.body);
    if (!body.success) throw invalidRequest(body.error);
    const numbers = body.data.numbers.map((raw) => ({ raw, e164: toE164(raw, defaultRegion) }));
    const unusable = numbers.filter((n) => !n.e164).map((n) => n.raw);
    if (unusable.length > 0) {
      throw new HttpProblem(422, 'invalid-phone-number', 'Invalid phone number', `Not a valid phone number: ${unusable.join(', ')}.`, {
        errors: unusable.map((raw) => ({ field: 'numbers', message: `not a valid phone number: ${raw}` })),
      });
    }
    try {
      const offer = await createOffer(db, { ...body.data, numbers: [...new Set(numbers.map((n) => n.e164!))] });
      res.status(201).location(`/v1/admin/offers/${offer.id}`).json(offerJson(offer));
    } catch (err) {
      if (err instanceof LedgerError && err.code === 'merchant_not_found') {
        throw new HttpProblem(422, 'unknown-merchant', 'Unknown merchant', err.message, { errors: [{ field: 'merchantId', message: 'no such merchant' }] });
      }
      throw err;
    }
  });

  router.get('/offers/:id', async (req, res) => {
    const id = uuidParam.safeParse(req.params.id);
    const offer = id.success ? await getOffer(db, id.data) : null;
    if (!offer) throw notFound(`No offer with id ${req.params.id}.`);
    res.json(offerJson(offer));
  });

  return router;
}

function offerJson(o: NonNullable<Awaited<ReturnType<typeof getOffer>>>) {
  return {
    id: o.id,
    merchantId: o.merchantId,
    name: o.name,
    mode: o.mode,
    callsRequired: o.callsRequired,
    minCallSeconds: o.minCallSeconds,
    numbers: o.numbers,
    purchaseTtlSeconds: o.purchaseTtlSeconds,
    language: o.language,
    createdAt: o.createdAt.toISOString(),
  };
}
