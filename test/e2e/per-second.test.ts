// End to end: a per-second purchase paid over two real SIP calls (SIPp) through Asterisk 22 and
// the IVR. The ledger's seconds are checked against the answered time as SIP saw it: the IVR
// hangs up the last call at the purchase's target, so the caller is never billed past it.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeCall } from '../../scripts/lib/sipp.js';
import { ADMIN, startE2eStack, type E2eStack } from '../support/stack.js';

let s: E2eStack;
beforeAll(async () => {
  s = await startE2eStack('per-second');
});
afterAll(async () => {
  await s?.stop();
});

/** Network and Asterisk latencies between the SIP answer and the ledger's (and for the hang-up). */
const LATENCY_SECONDS = 0.6;

describe('per-second purchase through Asterisk', { timeout: 120_000 }, () => {
  it('completes 20 s over two calls of about 12 s, hanging up the second at the target', async () => {
    const offerId = await s.createOffer({ mode: 'caller_id', unit: 'second', secondsRequired: 20, numbers: ['0899100900'], purchaseTtlSeconds: 600 });
    // A hold sound (29 s, Asterisk's core sounds) between the announcements: it must be cut for
    // the confirmation, or the confirmation would queue behind it and the caller pay past the target.
    const hold = await s.http.request('PUT', '/v1/admin/numbers/0899100900', { token: ADMIN, body: { holdSound: 'demo-congrats' } });
    expect(hold.status).toBe(200);
    const created = await s.http.request('POST', '/v1/purchases', { token: s.merchantKey, body: { offerId, callerNumber: '0612345690' } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    // First call: the caller hangs up after 12 s. A second call meanwhile is refused unanswered.
    const first = placeCall({ scenario: 'uac-timed', dialed: '0899100900', caller: '33612345690', holdMs: 12_000 });
    await new Promise((r) => setTimeout(r, 3000));
    const meanwhile = await placeCall({ scenario: 'uac-not-answered', dialed: '0899100900', caller: '33612345690' });
    expect(meanwhile, meanwhile.errors).toMatchObject({ exitCode: 0 });
    const call1 = await first;
    expect(call1, call1.errors).toMatchObject({ exitCode: 0, saw: 'caller-bye' });
    await s.closedCalls('+33899100900', 2);
    const afterFirst = await s.readPurchase(id);
    const credited1 = afterFirst.secondsCounted as number;
    expect(afterFirst).toMatchObject({ status: 'pending', unit: 'second', secondsRequired: 20, secondsRemaining: 20 - credited1 });
    // Whole seconds of the answered time, the ledger's answer being a little after SIP's.
    expect(credited1).toBeLessThanOrEqual(call1.sipSeconds!);
    expect(credited1).toBeGreaterThan(call1.sipSeconds! - 1 - LATENCY_SECONDS);

    // Second call: the caller would stay 12 s; the IVR confirms and hangs up at the target.
    const call2 = await placeCall({ scenario: 'uac-timed', dialed: '0899100900', caller: '33612345690', holdMs: 12_000 });
    expect(call2, call2.errors).toMatchObject({ exitCode: 0, saw: 'ivr-bye' });
    const records = await s.closedCalls('+33899100900', 3);
    const done = await s.readPurchase(id);
    expect(done).toMatchObject({ status: 'completed', secondsCounted: 20, secondsRemaining: 0 });
    const needed2 = 20 - credited1;
    // Never kept on the line past the target (the confirmation fits in the last 3 s).
    expect(call2.sipSeconds!).toBeLessThanOrEqual(needed2 + LATENCY_SECONDS);
    // ...and not cut short by more than the allowance either.
    expect(call2.sipSeconds!).toBeGreaterThan(needed2 - 3);
    expect(call1.sipSeconds! + call2.sipSeconds!).toBeLessThanOrEqual(20 + 1 + LATENCY_SECONDS);

    const rows = (await s.t.db.execute(
      sql`select outcome, seconds_credited, answered_seconds from calls where dialed_number = '+33899100900' order by started_at`,
    )) as unknown as { outcome: string; seconds_credited: number; answered_seconds: number | null }[];
    expect(records).toHaveLength(3);
    expect(rows.map((r) => [r.outcome, r.seconds_credited])).toEqual([
      ['counted', credited1],
      ['call_in_progress', 0],
      ['counted', needed2],
    ]);
    s.log.info({ sip: [call1.sipSeconds, call2.sipSeconds], ledger: rows }, 'per-second e2e: SIP durations against the ledger');
    console.log(`per-second e2e: SIP ${call1.sipSeconds!.toFixed(2)} s + ${call2.sipSeconds!.toFixed(2)} s; ledger ${credited1} + ${needed2} = 20 s; answered_seconds ${rows.map((r) => r.answered_seconds).join(', ')}`);
  });
});
