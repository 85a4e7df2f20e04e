// Bearer authentication. Merchants present the API key issued at creation (stored hashed);
// the operator presents ADMIN_TOKEN. Failed attempts are rate-limited per client address so
// keys cannot be guessed at speed.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Database } from '../db/client.js';
import { findMerchantByApiKey } from '../db/ledger/index.js';
import type { Merchant } from '../db/schema.js';
import { HttpProblem, sendProblem } from './problem.js';

declare module 'express-serve-static-core' {
  interface Request {
    merchant?: Merchant;
  }
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1] ?? null;
}

const unauthorized = (detail: string) =>
  new HttpProblem(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer' });

/** Counts only failed authentications: a legitimate client is never slowed down. */
export function authFailureLimiter(limit: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) =>
      sendProblem(res, new HttpProblem(429, 'too-many-requests', 'Too Many Requests', 'Too many failed authentications; retry in a minute.', {}, { 'Retry-After': '60' })),
  });
}

export function requireAdmin(adminToken: string | undefined): RequestHandler {
  // Compare digests so the comparison takes the same time whatever the input length.
  const expected = adminToken ? createHash('sha256').update(adminToken).digest() : null;
  return (req, _res, next) => {
    if (!expected) return next(unauthorized('The admin API is disabled: set ADMIN_TOKEN.'));
    const token = bearer(req.headers.authorization);
    if (!token) return next(unauthorized('Missing bearer token.'));
    const given = createHash('sha256').update(token).digest();
    if (!timingSafeEqual(given, expected)) return next(unauthorized('Invalid admin token.'));
    next();
  };
}

export function requireMerchant(db: Database): RequestHandler {
  return async (req, _res, next) => {
    const key = bearer(req.headers.authorization);
    if (!key) return next(unauthorized('Missing bearer API key.'));
    const merchant = await findMerchantByApiKey(db, key);
    if (!merchant) return next(unauthorized('Invalid API key.'));
    req.merchant = merchant;
    next();
  };
}
