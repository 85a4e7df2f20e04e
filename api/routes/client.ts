// Browser-facing endpoints, authenticated by a client token (never by the merchant's key):
//   GET /v1/client/purchase?token=ct_…   the purchase as the widget draws it
//   GET /v1/client/events?token=ct_…     its live event stream (SSE; EventSource cannot send
//                                        headers, hence the token in the query)
// CORS is granted only to the origins the merchant declared (PUT /v1/allowed-origins).
import { Router, type RequestHandler } from 'express';
import type { Database } from '../../db/client.js';
import { allowedOrigins, getOffer, getPurchase, latestEvent } from '../../db/ledger/index.js';
import type { AuthFailureLimiter } from '../auth.js';
import type { ClientClaims, ClientTokens } from '../client-token.js';
import { streamPurchase, type PurchaseEventHub } from '../live.js';
import { HttpProblem, notFound } from '../problem.js';
import type { ClientPurchaseResponse } from '../schemas.js';

declare module 'express-serve-static-core' {
  interface Request {
    client?: ClientClaims;
  }
}

export function clientRoutes(db: Database, tokens: ClientTokens, hub: PurchaseEventHub, limiter: AuthFailureLimiter): Router {
  const router = Router();

  const authenticate: RequestHandler = async (req, res, next) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!token) return next(new HttpProblem(401, 'unauthorized', 'Unauthorized', 'Missing client token.'));
    const claims = await tokens.verify(token);
    if (!claims) return next(limiter.refuse(req.ip, new HttpProblem(401, 'unauthorized', 'Unauthorized', 'Invalid or expired client token.')));
    req.client = claims;
    const origin = req.get('origin');
    if (origin && (await allowedOrigins(db, claims.merchantId)).includes(origin)) res.set({ 'Access-Control-Allow-Origin': origin, Vary: 'Origin' });
    next();
  };

  router.get('/purchase', authenticate, async (req, res) => {
    const { purchaseId, merchantId } = req.client!;
    const purchase = await getPurchase(db, merchantId, purchaseId);
    if (!purchase) throw notFound('No such purchase.');
    // Every purchase has its offer: a foreign key, and offers are never deleted.
    const [offer, last] = await Promise.all([getOffer(db, purchase.offerId).then((o) => o!), latestEvent(db, purchaseId)]);
    res.json({
      // The stored purchase is authoritative for the status (it may have lapsed since the
      // last event); the last event adds whether a call is in progress.
      purchaseId: purchase.id,
      status: purchase.status,
      callsRequired: purchase.callsRequired,
      callsCounted: purchase.callsCounted,
      callsRemaining: purchase.callsRemaining,
      numberToCall: purchase.numberToCall,
      expiresAt: purchase.expiresAt,
      completedAt: purchase.completedAt,
      callInProgress: last?.data.callInProgress ?? false,
      disputedAt: purchase.disputedAt,
      ...(purchase.unit === 'second'
        ? { unit: purchase.unit, secondsRequired: purchase.secondsRequired, secondsCounted: purchase.secondsCounted, secondsRemaining: purchase.secondsRemaining }
        : {}),
      lastEventId: last?.id ?? 0,
      language: offer.language,
      priceLine: offer.priceLine,
    } satisfies ClientPurchaseResponse);
  });

  router.get('/events', authenticate, async (req, res) => {
    await streamPurchase(req, res, db, hub, req.client!.purchaseId);
  });

  return router;
}
