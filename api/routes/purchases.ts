// Merchant API: create a purchase, read it, cancel it, extend a lent number's hold. A merchant
// sees only its own purchases: another merchant's id answers 404 exactly like a missing one.
// Ledger refusals (LedgerError) are turned into problems by problemHandler.
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { cancelPurchase, createPurchase, extendPurchase, getPurchase } from '../../db/ledger/index.js';
import { toE164 } from '../../core/phone.js';
import type { ClientTokens } from '../client-token.js';
import { streamPurchase, type PurchaseEventHub } from '../live.js';
import { HttpProblem, invalidRequest, notFound } from '../problem.js';
import { createPurchaseBody, uuidParam } from '../schemas.js';

export interface LiveParts {
  tokens: ClientTokens;
  hub: PurchaseEventHub;
}

export function purchaseRoutes(db: Database, defaultRegion: string, live: LiveParts): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = createPurchaseBody.safeParse(req.body);
    if (!body.success) throw invalidRequest(body.error);
    let callerNumber: string | null = null;
    if (body.data.callerNumber !== undefined) {
      callerNumber = toE164(body.data.callerNumber, defaultRegion);
      if (!callerNumber) {
        throw new HttpProblem(422, 'invalid-phone-number', 'Invalid phone number', `"${body.data.callerNumber}" is not a valid phone number.`, {
          errors: [{ field: 'callerNumber', message: 'not a valid phone number' }],
        });
      }
    }
    const purchase = await createPurchase(db, req.merchant!.id, { ...body.data, callerNumber });
    // The clientToken goes to the buyer's browser (widget, event stream); the API key never does.
    const clientToken = await live.tokens.issue(purchase.id, req.merchant!.id, purchase.expiresAt);
    res.status(201).location(`/v1/purchases/${purchase.id}`).json({ ...purchase, clientToken });
  });

  router.get('/:id', async (req, res) => {
    const id = uuidParam.safeParse(req.params.id);
    const purchase = id.success ? await getPurchase(db, req.merchant!.id, id.data) : null;
    if (!purchase) throw notFound(`No purchase with id ${req.params.id}.`);
    res.json(purchase);
  });

  /** A fresh client token, e.g. when the buyer reloads the merchant's page. */
  router.post('/:id/client-token', async (req, res) => {
    const purchase = await getPurchase(db, req.merchant!.id, purchaseId(req.params.id));
    if (!purchase) throw notFound(`No purchase with id ${req.params.id}.`);
    res.json({ clientToken: await live.tokens.issue(purchase.id, req.merchant!.id, purchase.expiresAt) });
  });

  /** Server-Sent Events for the merchant's backend (same stream as the browser's). */
  router.get('/:id/events', async (req, res) => {
    const purchase = await getPurchase(db, req.merchant!.id, purchaseId(req.params.id));
    if (!purchase) throw notFound(`No purchase with id ${req.params.id}.`);
    await streamPurchase(req, res, db, live.hub, purchase.id);
  });

  router.post('/:id/cancel', async (req, res) => {
    res.json(await cancelPurchase(db, req.merchant!.id, purchaseId(req.params.id)));
  });

  router.post('/:id/extend', async (req, res) => {
    res.json(await extendPurchase(db, req.merchant!.id, purchaseId(req.params.id)));
  });

  return router;
}

function purchaseId(raw: string): string {
  const id = uuidParam.safeParse(raw);
  if (!id.success) throw notFound(`No purchase with id ${raw}.`);
  return id.data;
}
