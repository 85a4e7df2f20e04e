// Webhook signatures, Stripe-style: `Sanscode-Signature: t=<unix seconds>,v1=<hex HMAC>`.
// The HMAC-SHA256 (key: the merchant's secret string as UTF-8) covers "<t>.<raw body>", so a
// receiver can check both who sent the body and when; the timestamp bounds replays.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Sanscode-Signature';

function hmacHex(secret: string, body: string | Uint8Array, t: number): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

/** Header value for `body` sent at `t` (unix seconds). */
export function sign(secret: string, body: string | Uint8Array, t: number = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${hmacHex(secret, body, t)}`;
}

/**
 * True when `header` carries a v1 signature of `body` by `secret` whose timestamp is within
 * `toleranceSeconds` of `now` (either way: a clock ahead is as suspect as a replay). Several
 * v1 entries are accepted, any one matching, so a signer could sign with two secrets at once.
 */
export function verify(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  toleranceSeconds = 300,
  now: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false;
  let t: number | null = null;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (t === null || candidates.length === 0 || Math.abs(now - t) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, body, t), 'hex');
  // Every candidate is compared (no early exit) in constant time; lengths are fixed by the regex.
  let ok = false;
  for (const c of candidates) ok = timingSafeEqual(Buffer.from(c, 'hex'), expected) || ok;
  return ok;
}
