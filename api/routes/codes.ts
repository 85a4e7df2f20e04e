// Merchant API for access codes: redeem a code (consumes it, once) and check one (does not).
// A merchant sees only its own codes: another merchant's code answers 404 like an unknown one.
// Failed attempts are bounded per merchant by the ledger (429 + Retry-After past the bound).
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { checkCode, redeemCode } from '../../db/ledger/index.js';
import { parse } from '../input.js';
import { redeemCodeBody, type CodeResponse, type RedeemedCodeResponse } from '../schemas.js';

export function codeRoutes(db: Database): Router {
  const router = Router();

  router.post('/redeem', async (req, res) => {
    const body = parse(redeemCodeBody, req.body);
    const code = await redeemCode(db, req.merchant!.id, body.code, body.reference ?? null);
    res.json({ ...code, status: 'redeemed', redeemedAt: code.redeemedAt! } satisfies RedeemedCodeResponse);
  });

  router.get('/:code', async (req, res) => {
    res.json((await checkCode(db, req.merchant!.id, String(req.params.code))) satisfies CodeResponse);
  });

  return router;
}
