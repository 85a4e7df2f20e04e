// End to end: real SIP calls (SIPp) through a real Asterisk 22 to the real IVR, with the real
// API and PostgreSQL. Proves the caller-ID purchase path and that no caller we cannot credit
// is ever answered (the SIPp scenario uac-not-answered fails on any 200 OK).
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asterisk } from '../support/asterisk.js';
import { placeCall } from '../../scripts/lib/sipp.js';
import { ADMIN, startE2eStack, type E2eStack } from '../support/stack.js';

let s: E2eStack;
beforeAll(async () => {
  s = await startE2eStack('caller-id');
});
afterAll(async () => {
  await s?.stop();
});

const offer = (numbers: string[], callsRequired: number, minCallSeconds: number) =>
  s.createOffer({ mode: 'caller_id', callsRequired, minCallSeconds, numbers, purchaseTtlSeconds: 600 });

async function purchase(offerId: string, callerNumber: string) {
  const res = await s.http.request('POST', '/v1/purchases', { token: s.merchantKey, body: { offerId, callerNumber } });
  expect(res.status).toBe(201);
  return res.body as { id: string; numberToCall: string };
}

const readPurchase = (id: string) => s.readPurchase(id);
const closedCalls = (dialed: string, count: number) => s.closedCalls(dialed, count);

// Each call lasts about ten seconds of prompts: give every test room for a few of them.
describe('caller-ID purchase through Asterisk', { timeout: 120_000 }, () => {
  it('completes a 3-call purchase, counting each call', async () => {
    const offerId = await offer(['0899100100'], 3, 2);
    const p = await purchase(offerId, '06 12 34 56 01');
    expect(p.numberToCall).toBe('+33899100100');
    for (let n = 1; n <= 3; n++) {
      const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100100', caller: '33612345601' });
      expect(call, call.errors).toMatchObject({ exitCode: 0 });
      await closedCalls('+33899100100', n);
      expect(await readPurchase(p.id)).toMatchObject({ callsCounted: n, callsRemaining: 3 - n, status: n === 3 ? 'completed' : 'pending' });
    }
    const calls = await closedCalls('+33899100100', 3);
    expect(calls.map((c) => c.outcome)).toEqual(['counted', 'counted', 'counted']);
    for (const c of calls) expect(c.answered_seconds).toBeGreaterThanOrEqual(2);
    expect((await readPurchase(p.id)).completedAt).not.toBeNull();
  });

  it('does not count a call shorter than the minimum', async () => {
    const offerId = await offer(['0899100200'], 1, 8);
    const p = await purchase(offerId, '0612345602');
    const call = await placeCall({ scenario: 'uac-answered-hangup', dialed: '0899100200', caller: '0612345602', holdMs: 1500 });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    const [record] = await closedCalls('+33899100200', 1);
    expect(record).toMatchObject({ outcome: 'too_short', purchase_id: p.id });
    expect(record!.answered_at).not.toBeNull();
    expect(await readPurchase(p.id)).toMatchObject({ callsCounted: 0, status: 'pending' });
  });

  it('survives callers who hang up 0-5 ms after the answer, and closes their calls', async () => {
    // The greeting's playback request then meets a channel that is gone (404): it used to
    // reject unhandled and kill the process, leaving the call in_progress.
    const offerId = await offer(['0899101300'], 1, 2);
    const p = await purchase(offerId, '0612345614');
    for (const holdMs of [0, 2, 5]) {
      const call = await placeCall({ scenario: 'uac-answered-hangup', dialed: '0899101300', caller: '33612345614', holdMs });
      expect(call, call.errors).toMatchObject({ exitCode: 0 });
    }
    const records = await closedCalls('+33899101300', 3);
    expect(records.map((r) => r.outcome)).toEqual(['too_short', 'too_short', 'too_short']);
    // Still up and crediting.
    const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899101300', caller: '33612345614' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    await closedCalls('+33899101300', 4);
    expect(await readPurchase(p.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
  });

  it('never answers a withheld caller, a caller with no purchase, or a number of no offer', async () => {
    await offer(['0899100300'], 1, 1);
    const cases = [
      { dialed: '0899100300', caller: 'anonymous', outcome: 'anonymous' },
      { dialed: '0899100300', caller: '33612345699', outcome: 'no_purchase' },
      { dialed: '0899100399', caller: '33612345603', outcome: 'unknown_number' },
    ];
    for (const c of cases) {
      const call = await placeCall({ scenario: 'uac-not-answered', dialed: c.dialed, caller: c.caller });
      expect(call, `${c.outcome}: ${call.errors}`).toMatchObject({ exitCode: 0 });
    }
    const onKnown = await closedCalls('+33899100300', 2);
    expect(onKnown.map((r) => [r.outcome, r.answered_at])).toEqual([
      ['anonymous', null],
      ['no_purchase', null],
    ]);
    expect((await closedCalls('+33899100399', 1)).map((r) => [r.outcome, r.answered_at])).toEqual([['unknown_number', null]]);
  });

  it('credits two callers calling the same number at the same time, each their own purchase', async () => {
    const offerId = await offer(['0899100400'], 1, 2);
    const a = await purchase(offerId, '0612345604');
    const b = await purchase(offerId, '0612345605');
    const calls = await Promise.all([
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100400', caller: '33612345604' }),
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100400', caller: '33612345605' }),
    ]);
    for (const c of calls) expect(c, c.errors).toMatchObject({ exitCode: 0 });
    await closedCalls('+33899100400', 2);
    expect(await readPurchase(a.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    expect(await readPurchase(b.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
  });

  it('counts simultaneous calls from one buyer once each and completes once', async () => {
    const offerId = await offer(['0899100500'], 2, 2);
    const p = await purchase(offerId, '0612345606');
    const calls = await Promise.all([
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100500', caller: '33612345606' }),
      placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899100500', caller: '33612345606' }),
    ]);
    for (const c of calls) expect(c, c.errors).toMatchObject({ exitCode: 0 });
    await closedCalls('+33899100500', 2);
    expect(await readPurchase(p.id)).toMatchObject({ status: 'completed', callsCounted: 2 });
    const events = (await s.t.db.execute(sql`select type from purchase_events where purchase_id = ${p.id} and type = 'completed'`)) as unknown as unknown[];
    expect(events).toHaveLength(1);
  });

  it('plays the price announcement free of charge, before answering', async () => {
    const offerId = await offer(['0899101000'], 1, 1);
    const p = await purchase(offerId, '0612345611');
    // Any installed sound will do for the test; operators record their own price sentences.
    const set = await s.http.request('PUT', '/v1/admin/numbers/0899101000', { token: ADMIN, body: { priceAnnouncement: 'sanscode/please-hold' } });
    expect(set.status).toBe(200);
    const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899101000', caller: '33612345611' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    await closedCalls('+33899101000', 1);
    expect(await readPurchase(p.id)).toMatchObject({ status: 'completed' });
    // The answer (billing) waited for the whole announcement, which lasts about 3 s.
    const [row] = (await s.t.db.execute(
      sql`select extract(epoch from answered_at - started_at)::float8 as unbilled from calls where dialed_number = '+33899101000'`,
    )) as unknown as { unbilled: number }[];
    expect(row!.unbilled).toBeGreaterThan(2);
  });

  it('holds no per-call state once calls are over (no listener or map leak)', async () => {
    const before = s.ivr()!.telephony.heldState;
    const offerId = await offer(['0899100700'], 3, 1);
    await purchase(offerId, '0612345608');
    for (const caller of ['33612345608', 'anonymous', '33612345699']) {
      await placeCall({ scenario: caller === '33612345608' ? 'uac-answered-wait-bye' : 'uac-not-answered', dialed: '0899100700', caller });
    }
    await closedCalls('+33899100700', 3);
    expect(s.ivr()!.telephony.heldState).toEqual({ channels: 0, playbacks: 0, listeners: before.listeners });
  });

  /** Asterisk goes away for `downMs`, comes back; the IVR must be answering calls again. */
  async function survivesAsteriskOutage(dialed: string, caller: string, downMs: number) {
    const p = await purchase(await offer([dialed], 1, 1), caller);
    await asterisk('stop');
    await new Promise((r) => setTimeout(r, downMs));
    await asterisk('start');
    for (let i = 0; i < 300 && !(await asterisk('rx', 'ari show apps')).includes('sanscode'); i++) await new Promise((r) => setTimeout(r, 200));
    const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed, caller: `33${caller.slice(1)}` });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    await closedCalls(`+33${dialed.slice(1)}`, 1);
    expect(await readPurchase(p.id)).toMatchObject({ status: 'completed' });
  }

  it('reconnects and re-registers its application after Asterisk restarts', async () => {
    await survivesAsteriskOutage('0899100800', '0612345609', 0);
  });

  it('takes up a call still in progress after the IVR restarts, and counts it', async () => {
    const offerId = await offer(['0899101200'], 1, 6);
    const p = await purchase(offerId, '0612345613');
    const calling = placeCall({ scenario: 'uac-answered-wait-bye', dialed: '0899101200', caller: '33612345613' });
    // Wait until the call is answered (after the free identity prompt), then kill the IVR under it.
    for (let i = 0; i < 300; i++) {
      const rows = (await s.t.db.execute(sql`select 1 from calls where dialed_number = '+33899101200' and answered_at is not null`)) as unknown as unknown[];
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await s.stopIvr();
    await s.startIvr(); // a new process would do the same: list the channels still in Stasis, resume them
    const call = await calling;
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    const [record] = await closedCalls('+33899101200', 1);
    expect(record).toMatchObject({ outcome: 'counted', purchase_id: p.id });
    expect(await readPurchase(p.id)).toMatchObject({ status: 'completed' });
  });

  it('keeps reconnecting after ari-client gives up (Asterisk down for longer than its ~43 s of retries)', { timeout: 180_000 }, async () => {
    await survivesAsteriskOutage('0899100900', '0612345610', 50_000);
  });

  it('gives only early media, never an answer, while the IVR is down', async () => {
    const offerId = await offer(['0899100600'], 1, 1);
    await purchase(offerId, '0612345607');
    await s.stopIvr();
    const call = await placeCall({ scenario: 'uac-not-answered', dialed: '0899100600', caller: '33612345607' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    // Nobody could record it: the IVR was down, and the caller was never answered.
    const rows = (await s.t.db.execute(sql`select 1 from calls where dialed_number = '+33899100600'`)) as unknown as unknown[];
    expect(rows).toHaveLength(0);
    await s.startIvr();
  });
});
