// Crediting a lost call (the IVR lost the channel, the carrier billed it), through the ledger
// and POST /v1/admin/calls/{id}/credit: who is eligible, exactly once, with events, webhooks
// and the audit trail.
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import {
  admitCall,
  cancelPurchase,
  countCall,
  createPurchase,
  creditLostCall,
  creditsOfPurchase,
  endCall,
  expireDuePurchases,
  getCall,
  getPurchase,
  LedgerError,
  markAnswered,
  setWebhook,
} from '../../db/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';
const NUMBER = '+33899123456';
let t: TestDatabase;
let http: Http;

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000 }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let seq = 0;
const newCaller = () => `+336${String(30_000_000 + ++seq).slice(-8)}`;

/** A call for `caller` on NUMBER, admitted, answered unless told otherwise, then lost by the IVR. */
async function lostCall(caller: string, answered = true): Promise<string> {
  const channelId = `lost-${++seq}`;
  const { admission } = await admitCall(
    t.db,
    { channelId, asteriskId: 'node-a', dialedRaw: NUMBER, dialed: NUMBER, callerRaw: caller, caller },
    { maxCallSeconds: 3600, defaultLanguage: 'fr' },
  );
  expect(admission.action).toBe('answer');
  if (answered) await markAnswered(t.db, channelId);
  await endCall(t.db, channelId, { lost: true });
  return channelId;
}

/** A purchase of `callsRequired` calls (30 s each: nothing counts by itself) from a merchant with a webhook. */
async function purchase(callsRequired = 1) {
  const { merchant, offer } = await provision(t.db, { callsRequired, minCallSeconds: 30, numbers: [NUMBER] });
  await setWebhook(t.db, merchant.id, 'https://shop.example/hooks/sanscode');
  const caller = newCaller();
  const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
  return { merchant, purchase: p, caller };
}

async function eventsOf(purchaseId: string) {
  return (await t.db.execute(
    sql`select type, call_id from purchase_events where purchase_id = ${purchaseId} order by id`,
  )) as unknown as { type: string; call_id: string | null }[];
}
async function webhooksOf(purchaseId: string) {
  const rows = (await t.db.execute(
    sql`select type, body from webhook_deliveries where purchase_id = ${purchaseId} order by id`,
  )) as unknown as { type: string; body: string }[];
  return rows.map((r) => ({ type: r.type, status: JSON.parse(r.body).data.status, callsCounted: JSON.parse(r.body).data.callsCounted }));
}

const credit = (call: string, reason: unknown = 'carrier statement 2026-11, line 12') =>
  http.request('POST', `/v1/admin/calls/${encodeURIComponent(call)}/credit`, { token: ADMIN, body: { reason } });

describe('creditLostCall (ledger)', () => {
  it('counts an answered lost call, completes the purchase, and records events, webhooks and who and why', async () => {
    const { purchase: p, merchant, caller } = await purchase(1);
    const channelId = await lostCall(caller);
    const call = (await getCall(t.db, channelId))!;
    expect(call.outcome).toBe('lost');

    const result = await creditLostCall(t.db, channelId, { by: 'alice', reason: 'billed on the carrier statement' });

    expect(result).toMatchObject({ completed: true, purchase: { id: p.id, status: 'completed', callsCounted: 1 } });
    expect(result.credit).toMatchObject({ callId: call.id, channelId, purchaseId: p.id, creditedBy: 'alice', reason: 'billed on the carrier statement' });
    expect(await getPurchase(t.db, merchant.id, p.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    expect(await getCall(t.db, channelId)).toMatchObject({ outcome: 'counted', countedAt: expect.any(Date) });
    expect((await eventsOf(p.id)).slice(-2)).toEqual([
      { type: 'call_counted', call_id: call.id },
      { type: 'completed', call_id: null },
    ]);
    expect(await webhooksOf(p.id)).toEqual([
      { type: 'purchase.progress', status: 'completed', callsCounted: 1 },
      { type: 'purchase.completed', status: 'completed', callsCounted: 1 },
    ]);
    expect(await creditsOfPurchase(t.db, p.id)).toEqual([result.credit]);
  });

  it('takes the call id as well as the channel id, and leaves a purchase with calls missing pending', async () => {
    const { purchase: p, caller } = await purchase(2);
    const call = (await getCall(t.db, await lostCall(caller)))!;
    const result = await creditLostCall(t.db, call.id, { by: 'alice', reason: 'r' });
    expect(result).toMatchObject({ completed: false, purchase: { status: 'pending', callsCounted: 1, callsRemaining: 1 } });
    expect(await webhooksOf(p.id)).toEqual([{ type: 'purchase.progress', status: 'pending', callsCounted: 1 }]);
  });

  it('credits a purchase that expired meanwhile while it has room, completing it with its last call', async () => {
    const two = await purchase(2);
    const one = await purchase(1);
    const lostOfTwo = await lostCall(two.caller);
    const lostOfOne = await lostCall(one.caller);
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id in (${two.purchase.id}, ${one.purchase.id})`);
    await expireDuePurchases(t.db);
    expect(await getPurchase(t.db, two.merchant.id, two.purchase.id)).toMatchObject({ status: 'expired' });

    expect(await creditLostCall(t.db, lostOfTwo, { by: 'alice', reason: 'r' })).toMatchObject({
      completed: false,
      purchase: { status: 'expired', callsCounted: 1 },
    });
    expect(await creditLostCall(t.db, lostOfOne, { by: 'alice', reason: 'r' })).toMatchObject({
      completed: true,
      purchase: { status: 'completed', callsCounted: 1 },
    });
    expect((await webhooksOf(one.purchase.id)).map((w) => w.type)).toEqual(['purchase.expired', 'purchase.progress', 'purchase.completed']);
  });

  it('refuses what is not an answered lost call of a purchase that can take it, changing nothing', async () => {
    const refusal = (call: string) => creditLostCall(t.db, call, { by: 'alice', reason: 'r' }).then(() => null, (e: unknown) => e);

    const unanswered = await purchase(1);
    const neverAnswered = await lostCall(unanswered.caller, false);

    const short = await purchase(1);
    const tooShort = `short-${++seq}`;
    await admitCall(t.db, { channelId: tooShort, asteriskId: null, dialedRaw: NUMBER, dialed: NUMBER, callerRaw: short.caller, caller: short.caller }, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    await markAnswered(t.db, tooShort);
    await endCall(t.db, tooShort, {});

    const done = await purchase(1);
    const [first, second] = [await lostCall(done.caller), await lostCall(done.caller)];
    await creditLostCall(t.db, first, { by: 'alice', reason: 'r' });

    const cancelled = await purchase(2);
    const lostOfCancelled = await lostCall(cancelled.caller);
    await cancelPurchase(t.db, cancelled.merchant.id, cancelled.purchase.id);

    const cases: [string, string, Record<string, unknown>][] = [
      ['unknown', 'no-such-channel', { code: 'call_not_found' }],
      ['never answered', neverAnswered, { code: 'call_not_creditable', extra: { reason: 'not_answered' } }],
      ['too short', tooShort, { code: 'call_not_creditable', extra: { reason: 'not_lost' } }],
      ['already credited', first, { code: 'call_not_creditable', extra: { reason: 'already_credited' } }],
      ['purchase completed', second, { code: 'call_not_creditable', extra: { reason: 'purchase_completed' } }],
      ['purchase cancelled', lostOfCancelled, { code: 'call_not_creditable', extra: { reason: 'purchase_cancelled' } }],
    ];
    const before = await t.db.execute(sql`select (select count(*) from call_credits)::int as credits, (select count(*) from purchase_events)::int as events`);
    for (const [name, call, expected] of cases) {
      const err = await refusal(call);
      expect(err, name).toBeInstanceOf(LedgerError);
      expect(err, name).toMatchObject(expected);
    }
    expect(await t.db.execute(sql`select (select count(*) from call_credits)::int as credits, (select count(*) from purchase_events)::int as events`)).toEqual(before);
    expect(await getCall(t.db, second)).toMatchObject({ outcome: 'lost' });
  });

  it('counts a call once under 10 simultaneous credits', async () => {
    const { purchase: p, merchant, caller } = await purchase(2);
    const channelId = await lostCall(caller);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => creditLostCall(t.db, channelId, { by: `op-${i}`, reason: 'r' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'call_not_creditable', extra: { reason: 'already_credited' } });
    expect(await getPurchase(t.db, merchant.id, p.id)).toMatchObject({ callsCounted: 1 });
    expect((await eventsOf(p.id)).filter((e) => e.type === 'call_counted')).toHaveLength(1);
    expect(await creditsOfPurchase(t.db, p.id)).toHaveLength(1);
  });
});

describe('POST /v1/admin/calls/{id}/credit', () => {
  it('credits as admin-api with the reason given, then answers 409 to a second credit', async () => {
    const { purchase: p, caller } = await purchase(1);
    const channelId = await lostCall(caller);
    const res = await credit(channelId);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      credit: { channelId, purchaseId: p.id, creditedBy: 'admin-api', reason: 'carrier statement 2026-11, line 12' },
      completed: true,
      purchase: { id: p.id, status: 'completed', callsCounted: 1, callsRemaining: 0 },
    });
    expect(await creditsOfPurchase(t.db, p.id)).toMatchObject([{ creditedBy: 'admin-api', reason: 'carrier statement 2026-11, line 12' }]);

    const again = await credit(channelId);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body).toMatchObject({ type: 'urn:sanscode:problem:call-not-creditable', reason: 'already_credited', detail: expect.stringContaining('admin-api') });
  });

  it('takes the call id too', async () => {
    const { caller } = await purchase(1);
    const call = (await getCall(t.db, await lostCall(caller)))!;
    expect((await credit(call.id)).status).toBe(200);
  });

  it('answers 400 without a reason, 404 for an unknown call, 409 for a counted call, 401 without the admin token', async () => {
    const { caller } = await purchase(1);
    const channelId = await lostCall(caller);
    for (const body of [{}, { reason: '   ' }, { reason: 'r', extra: 1 }]) {
      const res = await http.request('POST', `/v1/admin/calls/${channelId}/credit`, { token: ADMIN, body });
      expect(res.status).toBe(400);
      expect(res.body.type).toBe('urn:sanscode:problem:invalid-request');
    }
    expect((await credit('no-such-channel')).status).toBe(404);
    expect((await http.request('POST', `/v1/admin/calls/${channelId}/credit`, { body: { reason: 'r' } })).status).toBe(401);
    expect(await getCall(t.db, channelId)).toMatchObject({ outcome: 'lost' });

    const { merchant, offer } = await provision(t.db, { minCallSeconds: 0, numbers: ['+33899123457'] });
    const counted = newCaller();
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: counted });
    await admitCall(t.db, { channelId: 'counted-1', asteriskId: null, dialedRaw: '+33899123457', dialed: '+33899123457', callerRaw: counted, caller: counted }, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    await markAnswered(t.db, 'counted-1');
    expect(await countCall(t.db, 'counted-1')).toMatchObject({ counted: true });
    const res = await credit('counted-1');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ reason: 'not_lost', detail: expect.stringContaining('counted') });
  });

  it('counts a call once under 10 simultaneous requests', async () => {
    const { purchase: p, caller } = await purchase(2);
    const channelId = await lostCall(caller);
    const statuses = (await Promise.all(Array.from({ length: 10 }, () => credit(channelId)))).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, ...Array(9).fill(409)]);
    expect((await eventsOf(p.id)).filter((e) => e.type === 'call_counted')).toHaveLength(1);
    expect(await webhooksOf(p.id)).toEqual([{ type: 'purchase.progress', status: 'pending', callsCounted: 1 }]);
  });
});
