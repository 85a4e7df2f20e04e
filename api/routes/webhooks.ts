// Merchant webhook settings and delivery log (mounted under /v1, merchant key required).
//   PUT    /v1/webhook {url, rotateSecret?}       → 200 {url, secret}
//   DELETE /v1/webhook                            → 204; pending deliveries are failed
//   GET    /v1/webhook-deliveries?limit&purchaseId → 200 {deliveries: [...]}, newest first
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { listDeliveries, removeWebhook, setWebhook } from '../../db/ledger/index.js';
import { refusedDestination } from '../../webhooks/destination.js';
import { parse } from '../input.js';
import { HttpProblem } from '../problem.js';
import { deliveriesQuery, putWebhookBody, type DeliveryListResponse, type WebhookSettingsResponse } from '../schemas.js';

/** allowPrivateNetworks: accept receivers on loopback or private addresses (development). */
export function webhookRoutes(db: Database, allowPrivateNetworks = false): Router {
  const router = Router();

  router.put('/webhook', async (req, res) => {
    const body = parse(putWebhookBody, req.body);
    const refused = await refusedDestination(body.url, allowPrivateNetworks);
    if (refused) {
      throw new HttpProblem(422, 'webhook-destination-refused', 'Webhook destination refused', `${refused}: webhooks go to public addresses only.`, {
        errors: [{ field: 'url', message: refused }],
      });
    }
    const settings = await setWebhook(db, req.merchant!.id, body.url, body.rotateSecret ?? false);
    res.set('Cache-Control', 'no-store').json(settings satisfies WebhookSettingsResponse);
  });

  router.delete('/webhook', async (req, res) => {
    await removeWebhook(db, req.merchant!.id);
    res.status(204).end();
  });

  router.get('/webhook-deliveries', async (req, res) => {
    res.json({ deliveries: await listDeliveries(db, req.merchant!.id, parse(deliveriesQuery, req.query)) } satisfies DeliveryListResponse);
  });

  return router;
}
