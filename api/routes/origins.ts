// The browser origins a merchant's pages are served from: only they get CORS access to the
// client endpoints with a client token.
//   PUT /v1/allowed-origins {origins: ["https://shop.example"]} → 200 {origins}
//   GET /v1/allowed-origins                                     → 200 {origins}
import { Router } from 'express';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../db/client.js';
import { merchants } from '../../db/schema.js';
import { invalidRequest } from '../problem.js';

/** scheme://host[:port], nothing else: what browsers send in the Origin header. */
const origin = z
  .string()
  .max(300)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s;
    } catch {
      return false;
    }
  }, 'must be an origin such as https://shop.example (no path, no trailing slash)');

const body = z.strictObject({ origins: z.array(origin).max(50) });

export function originRoutes(db: Database): Router {
  const router = Router();
  router.get('/allowed-origins', (req, res) => {
    res.json({ origins: req.merchant!.allowedOrigins });
  });
  router.put('/allowed-origins', async (req, res) => {
    const parsed = body.safeParse(req.body);
    if (!parsed.success) throw invalidRequest(parsed.error);
    const origins = [...new Set(parsed.data.origins)];
    await db.update(merchants).set({ allowedOrigins: origins }).where(eq(merchants.id, req.merchant!.id));
    res.json({ origins });
  });
  return router;
}
