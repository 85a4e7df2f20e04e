// End to end: access codes through a real Asterisk 22, SIPp callers, the real IVR, API and
// PostgreSQL. A 2-call formula whose code is read from the operator endpoint and redeemed once;
// `*` (RFC 4733 telephone events sent by SIPp) reading the code again; a withheld caller
// refused unanswered on a multi-call formula (uac-not-answered fails on any 200 OK).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeCall } from '../../scripts/lib/sipp.js';
import { ADMIN, startE2eStack, type E2eStack } from '../support/stack.js';

let s: E2eStack;
beforeAll(async () => {
  s = await startE2eStack('access-code');
});
afterAll(async () => {
  await s?.stop();
});

const codeOffer = (numbers: string[], callsRequired: number, minCallSeconds: number) => s.createOffer({ mode: 'access_code', callsRequired, minCallSeconds, numbers });

async function codesOf(caller: string): Promise<{ code: string; callsCounted: number; status: string }[]> {
  const res = await s.http.request('GET', `/v1/admin/codes?caller=${caller}`, { token: ADMIN });
  expect(res.status).toBe(200);
  return res.body.codes;
}

describe('access codes through Asterisk', { timeout: 240_000 }, () => {
  it('gives the code at the second call of a 2-call formula; it redeems once', async () => {
    const offerId = await codeOffer(['0899100700'], 2, 2);
    const first = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100700', caller: '33612345701' });
    expect(first, first.errors).toMatchObject({ exitCode: 0 });
    await s.closedCalls('+33899100700', 1);
    expect(await codesOf('0612345701')).toEqual([]);

    const second = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100700', caller: '33612345701', timeoutSeconds: 60 });
    expect(second, second.errors).toMatchObject({ exitCode: 0 });
    const calls = await s.closedCalls('+33899100700', 2);
    expect(calls.map((c) => c.outcome)).toEqual(['counted', 'counted']);

    const [issued, ...others] = await codesOf('0612345701');
    expect(others).toEqual([]);
    expect(issued).toMatchObject({ offerId, callsCounted: 2, status: 'valid' });
    expect(issued!.code).toMatch(/^[0-9]{8}$/);
    const record = await s.http.request('GET', '/v1/admin/calls?dialed=0899100700', { token: ADMIN });
    expect(record.body.calls.map((c: { issuedCode: string | null }) => c.issuedCode)).toEqual([issued!.code, null]);

    const redeemed = await s.http.request('POST', '/v1/codes/redeem', { token: s.merchantKey, body: { code: issued!.code, reference: 'e2e' } });
    expect(redeemed).toMatchObject({ status: 200, body: { status: 'redeemed', callsCounted: 2, reference: 'e2e' } });
    const again = await s.http.request('POST', '/v1/codes/redeem', { token: s.merchantKey, body: { code: issued!.code } });
    expect(again).toMatchObject({ status: 409, body: { type: 'urn:sanscode:problem:code-already-used', redeemedAt: redeemed.body.redeemedAt } });
    // The code is spoken and shown to the operator, never logged.
    expect(readFileSync('test-artifacts/e2e-access-code.log', 'utf8')).not.toMatch(asAWhole(issued!.code));
  });

  it('refuses a withheld caller on a multi-call formula, unanswered', async () => {
    await codeOffer(['0899100800'], 2, 1);
    const call = await placeCall({ scenario: 'uac-not-answered', dialed: '0899100800', caller: 'anonymous' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    const [record] = await s.closedCalls('+33899100800', 1);
    expect(record).toMatchObject({ outcome: 'anonymous', answered_at: null, purchase_id: null });
  });

  it('reads the code again when the caller presses * (DTMF over RTP, ChannelDtmfReceived over ARI)', async () => {
    await codeOffer(['0899100900'], 1, 0);
    const call = await placeCall({ scenario: 'uac-code-star', dialed: '0899100900', caller: '33612345709', timeoutSeconds: 120 });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    const [record] = await s.closedCalls('+33899100900', 1);
    expect(record).toMatchObject({ outcome: 'counted' });
    const log = readFileSync('test-artifacts/e2e-access-code.log', 'utf8')
      .split('\n')
      .filter((line) => line.includes('access code read again'));
    expect(log.length).toBeGreaterThanOrEqual(1);
    const [issued] = await codesOf('0612345709');
    expect(readFileSync('test-artifacts/e2e-access-code.log', 'utf8')).not.toMatch(asAWhole(issued!.code));
  });
});

/** The code as a whole number, not as digits inside a timestamp. */
const asAWhole = (code: string) => new RegExp(`(?<![0-9])${code}(?![0-9])`);
