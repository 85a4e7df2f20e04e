// Caller-ID identity (issue 13) against a real PostgreSQL: which purchase a call pays when a
// caller holds several on one number (the most recent live one, also under simultaneous calls),
// the creation limits per phone number and per buyer address (exact under concurrency), the
// dispute mark, and a caller's rights (record, anonymisation after retention).
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { sseData } from '../../api/live.js';
import { purchaseLiveEvent } from '../../api/schemas.js';
import {
  admitCall,
  anonymiseCaller,
  callerRecord,
  createPurchase,
  disputeCall,
  endCall,
  eventsSince,
  getCall,
  getPurchase,
  setMerchantNameSound,
  setOfferNameSound,
  setWebhook,
} from '../../db/ledger/index.js';
import type { PurchaseLimits } from '../../domain/index.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let http: Http;
beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR' }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let seq = 0;
const newCaller = () => `+336${String(20_000_000 + ++seq).slice(-8)}`;
let numberSeq = 0;
const newNumber = () => `+338996${String(++numberSeq).padStart(5, '0')}`;
const facts = (dialed: string, caller: string, channelId = `id-${++seq}`) => ({ channelId, asteriskId: 'node-test', dialedRaw: dialed, dialed, callerRaw: caller, caller });
const admit = (dialed: string, caller: string) => admitCall(t.db, facts(dialed, caller), { maxCallSeconds: 3600, defaultLanguage: 'fr' });

/** Two merchants selling on one shared number, each with its recorded name. */
async function twoMerchants(number: string) {
  const a = await provision(t.db, { numbers: [number] }, 'A');
  const b = await provision(t.db, { numbers: [number] }, 'B');
  await setMerchantNameSound(t.db, a.merchant.id, 'names/a');
  await setMerchantNameSound(t.db, b.merchant.id, 'names/b');
  await setOfferNameSound(t.db, b.offer.id, 'names/b-article');
  return { a, b };
}

describe('which purchase a call pays', () => {
  it('the most recent live one, announcing its merchant and offer; then the next one', async () => {
    const number = newNumber();
    const { a, b } = await twoMerchants(number);
    const caller = newCaller();
    const atA = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    const atB = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller });

    const first = await simulateCall(t.db, { dialed: number, caller, hangUp: true });
    expect(first.admission).toMatchObject({ action: 'answer', purchaseId: atB.id, identity: { merchantNameSound: 'names/b', offerNameSound: 'names/b-article' } });
    expect(await getPurchase(t.db, b.merchant.id, atB.id)).toMatchObject({ status: 'completed' });
    expect(await getPurchase(t.db, a.merchant.id, atA.id)).toMatchObject({ status: 'pending', callsCounted: 0 });

    // B is completed: A is now the most recent live purchase, and the caller hears A.
    const second = await simulateCall(t.db, { dialed: number, caller, hangUp: true });
    expect(second.admission).toMatchObject({ action: 'answer', purchaseId: atA.id, identity: { merchantNameSound: 'names/a', offerNameSound: null } });
    expect(await getPurchase(t.db, a.merchant.id, atA.id)).toMatchObject({ status: 'completed' });
  });

  it('skips a newer purchase that expired, and explains with the latest when none is live', async () => {
    const number = newNumber();
    const { a, b } = await twoMerchants(number);
    const caller = newCaller();
    const atA = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    const atB = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller });
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${atB.id}`);
    expect((await admit(number, caller)).admission).toMatchObject({ action: 'answer', purchaseId: atA.id });
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${atA.id}`);
    expect((await admit(number, caller)).admission).toMatchObject({ action: 'reject', outcome: 'expired' });
  });

  it('under simultaneous calls, answers one call for the most recent purchase and never another merchant’s unannounced', async () => {
    const number = newNumber();
    const { a, b } = await twoMerchants(number);
    const caller = newCaller();
    const atA = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    const atB = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller });
    const results = await Promise.all(Array.from({ length: 8 }, () => admit(number, caller)));
    const answered = results.filter((r) => r.admission.action === 'answer');
    expect(answered).toHaveLength(1);
    expect(answered[0]!.admission).toMatchObject({ purchaseId: atB.id, identity: { merchantNameSound: 'names/b' } });
    for (const r of results.filter((x) => x.admission.action !== 'answer')) expect(r.admission).toMatchObject({ action: 'reject', outcome: 'call_in_progress' });
    // Every call record points at the purchase its caller was told about: B, never A.
    const rows = (await t.db.execute(sql`select purchase_id as "purchaseId" from calls where caller_number = ${caller}`)) as unknown as { purchaseId: string }[];
    expect(new Set(rows.map((r) => r.purchaseId))).toEqual(new Set([atB.id]));
    expect(atA.id).not.toBe(atB.id);
  });
});

describe('the dispute mark', () => {
  it('marks the purchase disputed once, records the call disputed, and tells the merchant by event and webhook', async () => {
    const number = newNumber();
    const { merchant, offer } = await provision(t.db, { numbers: [number] });
    await setWebhook(t.db, merchant.id, 'https://shop.example/hook');
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const call = await simulateCall(t.db, { dialed: number, caller, answer: false });
    expect(call.admission.action).toBe('answer');

    const disputed = await disputeCall(t.db, call.facts.channelId);
    expect(disputed).toMatchObject({ id: p.id, status: 'pending' });
    expect(disputed!.disputedAt).not.toBeNull();
    await endCall(t.db, call.facts.channelId, { cause: 16 });
    expect(await getCall(t.db, call.facts.channelId)).toMatchObject({ outcome: 'disputed', answeredAt: null });

    // A second hang-up during the prompt (another call) keeps the first mark and event.
    const again = await simulateCall(t.db, { dialed: number, caller, answer: false });
    expect((await disputeCall(t.db, again.facts.channelId))?.disputedAt).toBe(disputed!.disputedAt);
    const events = (await t.db.execute(sql`select type from purchase_events where purchase_id = ${p.id} and type = 'disputed'`)) as unknown as unknown[];
    expect(events).toHaveLength(1);
    const hooks = (await t.db.execute(sql`select type, body from webhook_deliveries where purchase_id = ${p.id} and type = 'purchase.disputed'`)) as unknown as { body: string }[];
    expect(hooks).toHaveLength(1);
    expect(JSON.parse(hooks[0]!.body).data.disputedAt).toBe(disputed!.disputedAt);
    // Live pages see it too, in the stream's data.
    const stream = await eventsSince(t.db, p.id, 0);
    expect(sseData(stream.at(-1)!)).toMatchObject({ status: 'pending', disputedAt: disputed!.disputedAt });
    expect(purchaseLiveEvent.safeParse(sseData(stream.at(-1)!)).success).toBe(true);
  });

  it('never disputes an answered call', async () => {
    const number = newNumber();
    const { merchant, offer } = await provision(t.db, { numbers: [number], minCallSeconds: 60 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const call = await simulateCall(t.db, { dialed: number, caller, count: false });
    expect(await disputeCall(t.db, call.facts.channelId)).toBeNull();
    expect((await getPurchase(t.db, merchant.id, p.id))?.disputedAt).toBeNull();
  });
});

describe('creation limits', () => {
  const limits: PurchaseLimits = { perNumber: 5, perClientIp: 3, windowSeconds: 3600 };

  it('allows 5 purchases per number across merchants in an hour, then refuses with the real wait', async () => {
    const caller = newCaller();
    for (let i = 0; i < 5; i++) {
      const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] }, `M${i}`);
      await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits });
    }
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] }, 'M5');
    const err = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits }).catch((e) => e);
    expect(err).toMatchObject({ code: 'too_many_purchases' });
    expect(err.extra.retryAfterSeconds).toBeGreaterThan(3500);
    expect(err.extra.retryAfterSeconds).toBeLessThanOrEqual(3600);
    // Once the oldest leaves the window, one more fits.
    await t.db.execute(sql`update purchases set created_at = created_at - interval '3590 seconds' where id = (select id from purchases where caller_number = ${caller} order by created_at limit 1)`);
    const e2 = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits }).catch((e) => e);
    expect(e2.extra.retryAfterSeconds).toBeLessThanOrEqual(10);
    await t.db.execute(sql`update purchases set created_at = created_at - interval '20 seconds' where id = (select id from purchases where caller_number = ${caller} order by created_at limit 1)`);
    expect(await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits })).toMatchObject({ status: 'pending' });
  });

  it('holds exactly under simultaneous creations at many merchants', async () => {
    const caller = newCaller();
    const shops = await Promise.all(Array.from({ length: 12 }, (_, i) => provision(t.db, { numbers: [newNumber()] }, `P${i}`)));
    const results = await Promise.allSettled(shops.map((s) => createPurchase(t.db, s.merchant.id, { offerId: s.offer.id, callerNumber: caller }, { limits })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'too_many_purchases' });
  });

  it('bounds creations per buyer address across numbers, storing only a keyed hash of it', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] });
    for (let i = 0; i < 3; i++) await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: newCaller(), clientIp: '203.0.113.7' }, { limits });
    const err = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: newCaller(), clientIp: '203.0.113.7' }, { limits }).catch((e) => e);
    expect(err).toMatchObject({ code: 'too_many_purchases' });
    // Another address is not affected.
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: newCaller(), clientIp: '203.0.113.8' }, { limits });
    const stored = (await t.db.execute(sql`select client_ip_hash as h from purchases where client_ip_hash is not null`)) as unknown as { h: string }[];
    expect(stored.length).toBeGreaterThanOrEqual(4);
    for (const r of stored) expect(r.h).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers the 6th purchase for one number within an hour with 429 and Retry-After, whatever the merchant', async () => {
    const callerNumber = `06${String(40_000_000 + ++seq).slice(-8)}`;
    const statuses: number[] = [];
    let last: Awaited<ReturnType<Http['request']>> | null = null;
    for (let i = 0; i < 6; i++) {
      const m = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: `Shop ${i}` } })).body;
      const o = (
        await http.request('POST', '/v1/admin/offers', {
          token: ADMIN,
          body: { merchantId: m.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899123456'], purchaseTtlSeconds: 600, language: 'fr' },
        })
      ).body;
      last = await http.request('POST', '/v1/purchases', { token: m.apiKey, body: { offerId: o.id, callerNumber, clientIp: '2001:db8::1' } });
      statuses.push(last.status);
    }
    // Five merchants on one shared number: five pending purchases, no 409 between merchants.
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    expect(last!.body.type).toBe('urn:sanscode:problem:too-many-purchases');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(3500);
    expect(last!.body.retryAfterSeconds).toBe(Number(last!.headers.get('retry-after')));
  });

  it('refuses a clientIp that is not an address with 400', async () => {
    const m = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Shop ip' } })).body;
    const res = await http.request('POST', '/v1/purchases', { token: m.apiKey, body: { offerId: '00000000-0000-4000-8000-000000000000', callerNumber: '0612345678', clientIp: 'not-an-ip' } });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['clientIp']);
  });
});

describe("a caller's rights", () => {
  it('lists everything recorded about a number, at every merchant', async () => {
    const number = newNumber();
    const { a, b } = await twoMerchants(number);
    const caller = newCaller();
    await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller });
    await simulateCall(t.db, { dialed: number, caller, hangUp: true });
    const res = await http.request('GET', `/v1/admin/callers/${encodeURIComponent(caller)}`, { token: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body.purchases.map((p: { merchantName: string }) => p.merchantName)).toEqual(['B', 'A']);
    expect(res.body.calls).toHaveLength(1);
    expect(res.body.codes).toEqual([]);
    expect((await http.request('GET', '/v1/admin/callers/not-a-number', { token: ADMIN })).status).toBe(422);
  });

  it('anonymises only records past the retention period, keeping the money facts', async () => {
    const number = newNumber();
    const { merchant, offer } = await provision(t.db, { numbers: [number] });
    const caller = newCaller();
    const old = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller, clientIp: '198.51.100.1' });
    const oldCall = await simulateCall(t.db, { dialed: number, caller, hangUp: true });
    await t.db.execute(sql`update purchases set created_at = now() - interval '500 days', expires_at = now() - interval '500 days', ended_at = now() - interval '500 days', completed_at = now() - interval '500 days' where id = ${old.id}`);
    await t.db.execute(sql`update calls set started_at = now() - interval '500 days', ended_at = now() - interval '500 days' where channel_id = ${oldCall.facts.channelId}`);
    const recent = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });

    const done = await anonymiseCaller(t.db, caller, 400);
    expect(done).toMatchObject({ anonymisedPurchases: 1, anonymisedCalls: 1, keptPurchases: 1, keptCalls: 0 });
    expect(done.erasableFrom!.getTime()).toBeGreaterThan(Date.now() + 399 * 86_400_000);
    const erased = await getPurchase(t.db, merchant.id, old.id);
    expect(erased).toMatchObject({ callerNumber: null, status: 'completed', callsCounted: 1, callsRequired: 1 });
    const erasedCall = await getCall(t.db, oldCall.facts.channelId);
    expect(erasedCall).toMatchObject({ callerNumber: null, callerRaw: 'anonymised', outcome: 'counted', dialedNumber: number });
    const hash = (await t.db.execute(sql`select client_ip_hash as h from purchases where id = ${old.id}`)) as unknown as { h: string | null }[];
    expect(hash[0]!.h).toBeNull();
    expect((await getPurchase(t.db, merchant.id, recent.id))?.callerNumber).toBe(caller);
    const record = await callerRecord(t.db, caller);
    expect(record.purchases.map((p) => p.id)).toEqual([recent.id]);

    // Through the API: nothing more is erasable yet.
    const res = await http.request('DELETE', `/v1/admin/callers/${encodeURIComponent(caller)}`, { token: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ anonymisedPurchases: 0, anonymisedCalls: 0, keptPurchases: 1, retentionDays: 400 });
  });
});

describe('recorded names', () => {
  it('are set through the admin API, like the price announcement', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] });
    const set = await http.request('PUT', `/v1/admin/merchants/${merchant.id}/name-sound`, { token: ADMIN, body: { sound: 'sanscode/names/le-journal' } });
    expect(set.body).toEqual({ id: merchant.id, nameSound: 'sanscode/names/le-journal' });
    expect((await http.request('PUT', `/v1/admin/offers/${offer.id}/name-sound`, { token: ADMIN, body: { sound: 'sanscode/names/article' } })).status).toBe(200);
    expect((await http.request('PUT', `/v1/admin/offers/${offer.id}/name-sound`, { token: ADMIN, body: { sound: '../etc/passwd' } })).status).toBe(400);
    expect((await http.request('PUT', '/v1/admin/merchants/00000000-0000-4000-8000-000000000000/name-sound', { token: ADMIN, body: { sound: null } })).status).toBe(404);
    const caller = newCaller();
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { admission } = await admit(offer.numbers[0]!, caller);
    expect(admission).toMatchObject({ identity: { merchantNameSound: 'sanscode/names/le-journal', offerNameSound: 'sanscode/names/article' } });
  });
});
