// Bearer authentication. Merchants present the API key issued at creation (stored hashed);
// the operator presents ADMIN_TOKEN. Failed attempts are rate-limited per client address so
// keys cannot be guessed at speed.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
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

/**
 * Blocks a client address after too many refused credentials in a minute, before any key is
 * checked, so keys cannot be guessed at speed. Hand-written rather than express-rate-limit:
 * that library counts every request first and forgives successes afterwards, so a burst of
 * legitimate concurrent requests would trip it. Per process; behind a load balancer each API
 * process limits on its own.
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Middleware placed before authentication. */
  readonly guard: RequestHandler = (req, res, next) => {
    const entry = this.failures.get(req.ip ?? '');
    if (entry && entry.resetAt > Date.now() && entry.count >= this.limit) {
      const retryAfter = Math.ceil((entry.resetAt - Date.now()) / 1000);
      return sendProblem(res, new HttpProblem(429, 'too-many-requests', 'Too Many Requests', `Too many failed authentications; retry in ${retryAfter} s.`, {}, { 'Retry-After': String(retryAfter) }));
    }
    next();
  };

  recordFailure(ip: string | undefined): void {
    const now = Date.now();
    const key = ip ?? '';
    const entry = this.failures.get(key);
    if (!entry || entry.resetAt <= now) this.failures.set(key, { count: 1, resetAt: now + this.windowMs });
    else entry.count += 1;
    if (this.failures.size > 10_000) for (const [k, e] of this.failures) if (e.resetAt <= now) this.failures.delete(k);
  }
}

export function requireAdmin(adminToken: string | undefined, limiter: AuthFailureLimiter): RequestHandler {
  // Compare digests so the comparison takes the same time whatever the input length.
  const expected = adminToken ? createHash('sha256').update(adminToken).digest() : null;
  return (req, _res, next) => {
    if (!expected) return next(unauthorized('The admin API is disabled: set ADMIN_TOKEN.'));
    const token = bearer(req.headers.authorization);
    if (!token) return next(unauthorized('Missing bearer token.'));
    const given = createHash('sha256').update(token).digest();
    if (!timingSafeEqual(given, expected)) {
      limiter.recordFailure(req.ip);
      return next(unauthorized('Invalid admin token.'));
    }
    next();
  };
}

export function requireMerchant(db: Database, limiter: AuthFailureLimiter): RequestHandler {
  return async (req, _res, next) => {
    const key = bearer(req.headers.authorization);
    if (!key) return next(unauthorized('Missing bearer API key.'));
    const merchant = await findMerchantByApiKey(db, key);
    if (!merchant) {
      limiter.recordFailure(req.ip);
      return next(unauthorized('Invalid API key.'));
    }
    req.merchant = merchant;
    next();
  };
}
