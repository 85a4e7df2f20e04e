// End to end: real SIP calls (SIPp) through a real Asterisk 22 to the real IVR, with the real
// API and PostgreSQL. Proves the caller-ID purchase path and that no caller we cannot credit
// is ever answered (the SIPp scenario uac-not-answered fails on any 200 OK).
import { mkdirSync } from 'node:fs';
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { loadConfig } from '../../core/config.js';
import { startIvr, type IvrWorker } from '../../ivr/worker.js';
import { asterisk } from '../support/asterisk.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { placeCall } from '../support/sipp.js';

const ADMIN = 'e2e-admin-token-0123456789';
let t: TestDatabase;
let http: Http;
let ivr: IvrWorker | undefined;
let merchantKey: string;
let merchantId: string;

mkdirSync('test-artifacts', { recursive: true });
const log = pino({ level: 'debug' }, pino.destination({ dest: 'test-artifacts/e2e-caller-id.log', sync: true }));
const config = loadConfig({ ...process.env, LOG_LEVEL: 'debug' });

beforeAll(async () => {
  await asterisk('start');
  t = await createTestDatabase();
  ivr = await startIvr(t.db, config, log);
  http = await listen(createApi({ db: t.db, log, adminToken: ADMIN, defaultRegion: 'FR' }));
  const merchant = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'E2E shop' } });
  merchantKey = merchant.body.apiKey;
  merchantId = merchant.body.id;
});
afterAll(async () => {
  await ivr?.stop();
  await http?.close();
  await t?.drop();
});

async function offer(numbers: string[], callsRequired: number, minCallSeconds: number, language: 'fr' | 'en' = 'fr'): Promise<string> {
  const res = await http.request('POST', '/v1/admin/offers', {
    token: ADMIN,
    body: { merchantId, name: 'e2e', mode: 'caller_id', callsRequired, minCallSeconds, numbers, purchaseTtlSeconds: 600, language },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function purchase(offerId: string, callerNumber: string) {
  const res = await http.request('POST', '/v1/purchases', { token: merchantKey, body: { offerId, callerNumber } });
  expect(res.status).toBe(201);
  return res.body as { id: string; numberToCall: string };
}

const readPurchase = async (id: string) => (await http.request('GET', `/v1/purchases/${id}`, { token: merchantKey })).body;

interface CallRecord {
  outcome: string;
  answered_at: Date | null;
  answered_seconds: number | null;
  hangup_cause: number | null;
  ended_at: Date | null;
  purchase_id: string | null;
}

/** The ledger's records of calls on a dialed number, once every one of them is closed. */
async function closedCalls(dialedE164: string, count: number): Promise<CallRecord[]> {
  for (let i = 0; i < 300; i++) {
    const rows = (await t.db.execute(
      sql`select outcome, answered_at, answered_seconds, hangup_cause, ended_at, purchase_id from calls where dialed_number = ${dialedE164} order by started_at`,
    )) as unknown as CallRecord[];
    if (rows.length >= count && rows.every((r) => r.ended_at)) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`calls on ${dialedE164} not closed in time`);
}

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
    const events = (await t.db.execute(sql`select type from purchase_events where purchase_id = ${p.id} and type = 'completed'`)) as unknown as unknown[];
    expect(events).toHaveLength(1);
  });

  it('gives only early media, never an answer, while the IVR is down', async () => {
    const offerId = await offer(['0899100600'], 1, 1);
    await purchase(offerId, '0612345607');
    await ivr!.stop();
    ivr = undefined;
    for (let i = 0; i < 50 && (await asterisk('rx', 'ari show apps')).includes('sanscode'); i++) await new Promise((r) => setTimeout(r, 100));
    const call = await placeCall({ scenario: 'uac-not-answered', dialed: '0899100600', caller: '33612345607' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    ivr = await startIvr(t.db, config, log);
  });
});
