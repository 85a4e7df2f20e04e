// Merchant API: create a purchase, read it, cancel it. A merchant sees only its own purchases:
// another merchant's id answers 404 exactly like an id that does not exist.
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { cancelPurchase, createPurchase, getPurchase, LedgerError } from '../../db/ledger.js';
import { toE164 } from '../../core/phone.js';
import { HttpProblem, invalidRequest, notFound } from '../problem.js';
import { createPurchaseBody, uuidParam } from '../schemas.js';

export function purchaseRoutes(db: Database, defaultRegion: string): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = createPurchaseBody.safeParse(req.body);
    if (!body.success) throw invalidRequest(body.error);
    const callerNumber = toE164(body.data.callerNumber, defaultRegion);
    if (!callerNumber) {
      throw new HttpProblem(422, 'invalid-phone-number', 'Invalid phone number', `"${body.data.callerNumber}" is not a valid phone number.`, {
        errors: [{ field: 'callerNumber', message: 'not a valid phone number' }],
      });
    }
    try {
      const purchase = await createPurchase(db, req.merchant!.id, { ...body.data, callerNumber });
      res.status(201).location(`/v1/purchases/${purchase.id}`).json(purchase);
    } catch (err) {
      throw ledgerProblem(err);
    }
  });

  router.get('/:id', async (req, res) => {
    const id = uuidParam.safeParse(req.params.id);
    const purchase = id.success ? await getPurchase(db, req.merchant!.id, id.data) : null;
    if (!purchase) throw notFound(`No purchase with id ${req.params.id}.`);
    res.json(purchase);
  });

  router.post('/:id/cancel', async (req, res) => {
    const id = uuidParam.safeParse(req.params.id);
    if (!id.success) throw notFound(`No purchase with id ${req.params.id}.`);
    try {
      res.json(await cancelPurchase(db, req.merchant!.id, id.data));
    } catch (err) {
      throw ledgerProblem(err);
    }
  });

  return router;
}

function ledgerProblem(err: unknown): unknown {
  if (!(err instanceof LedgerError)) return err;
  switch (err.code) {
    case 'offer_not_found':
    case 'purchase_not_found':
      return notFound(err.message);
    case 'caller_has_pending_purchase':
      return new HttpProblem(409, 'caller-has-pending-purchase', 'Pending purchase exists', err.message, err.extra);
    case 'purchase_not_pending':
      return new HttpProblem(409, 'purchase-not-pending', 'Purchase not pending', err.message);
    case 'offer_mode_unsupported':
      return new HttpProblem(422, 'offer-mode-unsupported', 'Offer mode not supported here', err.message);
    default:
      return err;
  }
}
