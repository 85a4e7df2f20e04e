// Merchant webhook settings and delivery log (mounted under /v1, merchant key required).
//   PUT /v1/webhook {url}         → 200 {url, secret}
//   GET /v1/webhook-deliveries    → 200 {deliveries: [...]}
import { Router } from 'express';
import type { Database } from '../../db/client.js';

export function webhookRoutes(_db: Database): Router {
  const router = Router();
  // TODO(webhooks): implemented in the webhooks work.
  return router;
}
