// The browser origins a merchant's pages are served from: only they get CORS access to the
// client endpoints with a client token.
//   PUT /v1/allowed-origins {origins: ["https://shop.example"]} → 200 {origins}
//   GET /v1/allowed-origins                                     → 200 {origins}
import { Router } from 'express';
import { eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { getMerchant } from '../../db/ledger/index.js';
import { merchants } from '../../db/schema.js';
import { invalidRequest } from '../problem.js';
import { allowedOriginsBody } from '../schemas.js';

export function originRoutes(db: Database): Router {
  const router = Router();
  router.get('/allowed-origins', async (req, res) => {
    res.json({ origins: (await getMerchant(db, req.merchant!.id))?.allowedOrigins ?? [] });
  });
  router.put('/allowed-origins', async (req, res) => {
    const parsed = allowedOriginsBody.safeParse(req.body);
    if (!parsed.success) throw invalidRequest(parsed.error);
    const origins = [...new Set(parsed.data.origins)];
    await db.update(merchants).set({ allowedOrigins: origins }).where(eq(merchants.id, req.merchant!.id));
    res.json({ origins });
  });
  return router;
}
