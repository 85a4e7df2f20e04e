// Merchant API: create a purchase, read it, cancel it, extend a lent number's hold. A merchant
// sees only its own purchases: another merchant's id answers 404 exactly like a missing one.
// Ledger refusals (LedgerError) are turned into problems by problemHandler.
import { Router, type RequestHandler } from 'express';
import { purchasesCreated } from '../../core/metrics.js';
import type { Database } from '../../db/client.js';
import { cancelPurchase, createPurchase, extendPurchase } from '../../db/ledger/index.js';
import type { PurchaseLimits } from '../../domain/index.js';
import type { ClientTokens } from '../client-token.js';
import { parse, pathId, phoneOr422, purchaseOr404 } from '../input.js';
import { streamPurchase, type PurchaseEventHub } from '../live.js';
import { createPurchaseBody, type ClientTokenResponse, type CreatedPurchaseResponse, type PurchaseResponse } from '../schemas.js';

export interface LiveParts {
  tokens: ClientTokens;
  hub: PurchaseEventHub;
}

/**
 * GET /v1/purchases/{id}, the status read merchants poll. createApi registers it with its full
 * path ahead of the API's mounts, after the merchant's authentication. Reached through the
 * /v1/client, /v1/admin and /v1 mounts and two nested routers, Express's router allocated 18 KB
 * of the 61 KB a read allocates (docs/performance.md).
 */
export function readPurchase(db: Database): RequestHandler<{ id: string }> {
  return async (req, res) => {
    res.json((await purchaseOr404(db, req.merchant!.id, req.params.id)) satisfies PurchaseResponse);
  };
}

export function purchaseRoutes(db: Database, defaultRegion: string, live: LiveParts, limits: PurchaseLimits): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = parse(createPurchaseBody, req.body);
    const callerNumber = body.callerNumber === undefined ? null : phoneOr422('callerNumber', body.callerNumber, defaultRegion);
    // Past the creations allowed per phone number (across merchants) or buyer address: 429.
    const purchase = await createPurchase(db, req.merchant!.id, { ...body, callerNumber }, { limits });
    purchasesCreated.inc({ mode: purchase.mode });
    // The clientToken goes to the buyer's browser (widget, event stream); the API key never does.
    const clientToken = await live.tokens.issue(purchase.id, req.merchant!.id, purchase.expiresAt);
    res.status(201).location(`/v1/purchases/${purchase.id}`).json({ ...purchase, clientToken } satisfies CreatedPurchaseResponse);
  });

  // GET /:id, the status read, is registered by createApi ahead of the mounts (readPurchase).

  /** A fresh client token, e.g. when the buyer reloads the merchant's page. */
  router.post('/:id/client-token', async (req, res) => {
    const purchase = await purchaseOr404(db, req.merchant!.id, req.params.id);
    res.json({ clientToken: await live.tokens.issue(purchase.id, req.merchant!.id, purchase.expiresAt) } satisfies ClientTokenResponse);
  });

  /** Server-Sent Events for the merchant's backend (same stream as the browser's). */
  router.get('/:id/events', async (req, res) => {
    const purchase = await purchaseOr404(db, req.merchant!.id, req.params.id);
    await streamPurchase(req, res, db, live.hub, purchase.id);
  });

  router.post('/:id/cancel', async (req, res) => {
    res.json((await cancelPurchase(db, req.merchant!.id, pathId('purchase', req.params.id))) satisfies PurchaseResponse);
  });

  router.post('/:id/extend', async (req, res) => {
    res.json((await extendPurchase(db, req.merchant!.id, pathId('purchase', req.params.id))) satisfies PurchaseResponse);
  });

  return router;
}
