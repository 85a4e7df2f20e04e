// The browser origins a merchant's pages are served from: only they get CORS access to the
// client endpoints with a client token.
//   PUT /v1/allowed-origins {origins: ["https://shop.example"]} → 200 {origins}
//   GET /v1/allowed-origins                                     → 200 {origins}
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { allowedOrigins, setAllowedOrigins } from '../../db/ledger/index.js';
import { parse } from '../input.js';
import { allowedOriginsBody, type AllowedOriginsResponse } from '../schemas.js';

export function originRoutes(db: Database): Router {
  const router = Router();
  router.get('/allowed-origins', async (req, res) => {
    res.json({ origins: await allowedOrigins(db, req.merchant!.id) } satisfies AllowedOriginsResponse);
  });
  router.put('/allowed-origins', async (req, res) => {
    const { origins } = parse(allowedOriginsBody, req.body);
    res.json({ origins: await setAllowedOrigins(db, req.merchant!.id, origins) } satisfies AllowedOriginsResponse);
  });
  return router;
}
