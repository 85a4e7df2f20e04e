// Bearer authentication. Merchants present the API key issued at creation (stored hashed);
// the operator presents ADMIN_TOKEN. A valid credential always passes. Refused credentials are
// counted per client address, and past a limit that address's further refusals answer 429:
// failures throttle failures, never someone else's valid key (behind a reverse proxy, set
// TRUST_PROXY so that the address is the client's and not the proxy's).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Database } from '../db/client.js';
import { findMerchantByApiKeyHash, hashApiKey, type MerchantIdentity } from '../db/ledger/index.js';
import { HttpProblem } from './problem.js';

declare module 'express-serve-static-core' {
  interface Request {
    merchant?: MerchantIdentity;
  }
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1] ?? null;
}

const unauthorized = (detail: string) =>
  new HttpProblem(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer' });

/**
 * Counts refused credentials per client address in a fixed window. Consulted only once a
 * credential has been found wrong, so it can slow down guessing and never refuses a valid key.
 * Hand-written rather than express-rate-limit: that library counts every request first and
 * forgives successes afterwards, so a burst of legitimate concurrent requests would trip it.
 * Per process; behind a load balancer each API process limits on its own.
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Records a refused credential from `ip`; answers `problem`, or 429 once the address is past its limit. */
  refuse(ip: string | undefined, problem: HttpProblem): HttpProblem {
    const now = Date.now();
    const key = ip ?? '';
    let entry = this.failures.get(key);
    if (!entry || entry.resetAt <= now) this.failures.set(key, (entry = { count: 0, resetAt: now + this.windowMs }));
    entry.count += 1;
    if (this.failures.size > 10_000) for (const [k, e] of this.failures) if (e.resetAt <= now) this.failures.delete(k);
    if (entry.count <= this.limit) return problem;
    const retryAfter = Math.ceil((entry.resetAt - now) / 1000);
    return new HttpProblem(429, 'too-many-requests', 'Too Many Requests', `Too many failed authentications; retry in ${retryAfter} s.`, {}, { 'Retry-After': String(retryAfter) });
  }
}

/**
 * Merchant keys verified recently, by SHA-256, so that a repeat request skips the database.
 * Only keys found in the database enter, so guessing cannot fill it; it holds at most
 * `maxEntries` (oldest dropped first). An entry lives `ttlMs`: a key removed or replaced in the
 * database keeps working in this process for at most that long.
 */
export class VerifiedKeyCache {
  private readonly entries = new Map<string, { merchant: MerchantIdentity; expiresAt: number }>();
  constructor(
    readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(keyHash: string): MerchantIdentity | null {
    const entry = this.entries.get(keyHash);
    if (!entry) return null;
    if (entry.expiresAt > Date.now()) return entry.merchant;
    this.entries.delete(keyHash);
    return null;
  }

  set(keyHash: string, merchant: MerchantIdentity): void {
    this.entries.delete(keyHash);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(keyHash, { merchant, expiresAt: Date.now() + this.ttlMs });
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
    if (!timingSafeEqual(given, expected)) return next(limiter.refuse(req.ip, unauthorized('Invalid admin token.')));
    next();
  };
}

/** What createMerchant issues: "sk_" and 32 random bytes in base64url. Anything else is not looked up. */
const API_KEY_SHAPE = /^sk_[A-Za-z0-9_-]{43}$/;

export function requireMerchant(db: Database, limiter: AuthFailureLimiter, verified: VerifiedKeyCache): RequestHandler {
  return async (req, _res, next) => {
    const key = bearer(req.headers.authorization);
    if (!key) return next(unauthorized('Missing bearer API key.'));
    const keyHash = hashApiKey(key);
    let merchant = verified.get(keyHash);
    if (!merchant && API_KEY_SHAPE.test(key)) {
      merchant = await findMerchantByApiKeyHash(db, keyHash);
      if (merchant) verified.set(keyHash, merchant);
    }
    if (!merchant) return next(limiter.refuse(req.ip, unauthorized('Invalid API key.')));
    req.merchant = merchant;
    next();
  };
}
