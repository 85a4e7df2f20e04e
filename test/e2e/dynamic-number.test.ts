// End to end: dynamic numbers through the real Asterisk. A pool number lent to one visitor
// credits whoever calls it (even withheld) during the hold, and nobody after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeCall } from '../../scripts/lib/sipp.js';
import { startE2eStack, type E2eStack } from '../support/stack.js';

let s: E2eStack;
beforeAll(async () => {
  s = await startE2eStack('dynamic-number');
});
afterAll(async () => {
  await s?.stop();
});

const national = (e164: string) => `0${e164.slice(3)}`;

async function lend(offerId: string) {
  const res = await s.http.request('POST', '/v1/purchases', { token: s.merchantKey, body: { offerId } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; numberToCall: string };
}

describe('dynamic numbers through Asterisk', { timeout: 120_000 }, () => {
  it('lets a withheld caller complete a 2-call purchase on the lent number, then refuses the number', async () => {
    const offerId = await s.createOffer({ mode: 'dynamic_number', callsRequired: 2, minCallSeconds: 2, numbers: ['0899200101'], holdSeconds: 300, quarantineSeconds: 600 });
    const p = await lend(offerId);
    expect(p.numberToCall).toBe('+33899200101');
    for (let n = 1; n <= 2; n++) {
      const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899200101', caller: 'anonymous' });
      expect(call, call.errors).toMatchObject({ exitCode: 0 });
      await s.closedCalls('+33899200101', n);
    }
    expect(await s.readPurchase(p.id)).toMatchObject({ status: 'completed', callsCounted: 2 });
    const calls = await s.closedCalls('+33899200101', 2);
    expect(calls.map((c) => [c.outcome, c.caller_number])).toEqual([
      ['counted', null],
      ['counted', null],
    ]);

    // The lending ended with the completion: the number now rests, and a redial is not answered.
    const late = await placeCall({ scenario: 'uac-not-answered', dialed: '0899200101', caller: 'anonymous' });
    expect(late, late.errors).toMatchObject({ exitCode: 0 });
    const after = await s.closedCalls('+33899200101', 3);
    expect(after[2]).toMatchObject({ outcome: 'number_not_lent', answered_at: null });
  });

  it('credits two visitors calling their two lent numbers at the same time', async () => {
    const offerId = await s.createOffer({ mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 2, numbers: ['0899200201', '0899200202'], holdSeconds: 300 });
    const a = await lend(offerId);
    const b = await lend(offerId);
    expect(new Set([a.numberToCall, b.numberToCall]).size).toBe(2);
    const calls = await Promise.all([
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: national(a.numberToCall), caller: '33612340001' }),
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: national(b.numberToCall), caller: '33612340002' }),
    ]);
    for (const c of calls) expect(c, c.errors).toMatchObject({ exitCode: 0 });
    await s.closedCalls(a.numberToCall, 1);
    await s.closedCalls(b.numberToCall, 1);
    expect(await s.readPurchase(a.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    expect(await s.readPurchase(b.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
  });
});
