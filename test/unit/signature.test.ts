// Webhook signatures, checked against an independent implementation written here with
// node:crypto, as a merchant would write it from docs/webhooks.md.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../webhooks/signature.js';

const secret = 'whsec_test-secret-0123456789';
const body = JSON.stringify({ id: 'evt_1', type: 'purchase.completed', data: { note: 'é ✓' } });
const t = 1_700_000_000;

/** The receiver's side, from the docs: HMAC-SHA256 over `${t}.${rawBody}`, hex. */
function receiverAccepts(header: string, rawBody: Buffer, key: string, now: number): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const ts = Number(parts.t);
  if (!Number.isInteger(ts) || Math.abs(now - ts) > 300) return false;
  const expected = createHmac('sha256', key).update(`${ts}.`).update(rawBody).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('webhook signature', () => {
  it('has the documented format and is verifiable independently', () => {
    const header = sign(secret, body, t);
    const hex = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
    expect(header).toBe(`t=${t},v1=${hex}`);
    expect(receiverAccepts(header, Buffer.from(body, 'utf8'), secret, t + 10)).toBe(true);
    expect(verify(secret, header, body, 300, t + 10)).toBe(true);
    expect(verify(secret, header, Buffer.from(body, 'utf8'), 300, t)).toBe(true);
  });

  it('accepts a signature made independently', () => {
    const hex = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(verify(secret, `t=${t},v1=${hex}`, body, 300, t)).toBe(true);
    // Unknown schemes and extra signatures are tolerated as long as one v1 matches.
    expect(verify(secret, `t=${t},v0=abc,v1=${'0'.repeat(64)},v1=${hex}`, body, 300, t)).toBe(true);
  });

  it('rejects a tampered body, a wrong secret, a stale or future timestamp', () => {
    const header = sign(secret, body, t);
    expect(verify(secret, header, body.replace('completed', 'cancelled'), 300, t)).toBe(false);
    expect(verify(secret, header, `${body} `, 300, t)).toBe(false);
    expect(verify('whsec_other', header, body, 300, t)).toBe(false);
    expect(verify(secret, header, body, 300, t + 301)).toBe(false);
    expect(verify(secret, header, body, 300, t - 301)).toBe(false);
    expect(verify(secret, header, body, 600, t + 301)).toBe(true);
    // A timestamp moved forward invalidates the signature made for the old one.
    expect(verify(secret, header.replace(`t=${t}`, `t=${t + 100}`), body, 300, t + 100)).toBe(false);
  });

  it.each([undefined, null, '', 'garbage', `t=${t}`, `v1=${'a'.repeat(64)}`, `t=abc,v1=${'a'.repeat(64)}`, `t=${t},v1=xyz`])(
    'rejects the malformed header %s',
    (header) => {
      expect(verify(secret, header, body, 300, t)).toBe(false);
    },
  );
});
