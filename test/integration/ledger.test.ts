// The ledger against a real PostgreSQL: purchases, call admission and counting, concurrency.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countCall, createPurchase, endCall, getCall, getPurchase, LedgerError, markAnswered, setWebhook, webhookOf } from '../../db/ledger/index.js';
import { defaultPurchaseLimits } from '../../domain/index.js';
import { purchaseEvents, webhookDeliveries } from '../../db/schema.js';
import { simulateCall } from '../support/calls.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

let seq = 0;
/** A distinct French mobile number per test, so tests never share a caller. */
const newCaller = () => `+336${String(10_000_000 + ++seq).slice(-8)}`;
/** A call admitted (or refused) and left there: the test takes it further itself. */
const admit = (dialed: string, caller: string | null, channelId?: string) => simulateCall(t.db, { channelId, dialed, caller, answer: false });

describe('purchases', () => {
  it('creates a pending purchase on the offer number', async () => {
    const { merchant, offer } = await provision(t.db, { callsRequired: 3 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller, reference: 'order-1' });
    expect(p).toMatchObject({ status: 'pending', numberToCall: '+33899123456', callsRequired: 3, callsCounted: 0, callsRemaining: 3, reference: 'order-1' });
    expect(new Date(p.expiresAt).getTime() - new Date(p.createdAt).getTime()).toBe(600_000);
  });

  it('answers the purchase exactly as stored, its created event carrying the same snapshot', async () => {
    const { merchant, offer } = await provision(t.db, { callsRequired: 2, unit: 'second', secondsRequired: 90 });
    await setWebhook(t.db, merchant.id, 'https://example.test/hook');
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: newCaller(), reference: 'r', clientIp: '192.0.2.7' }, { limits: defaultPurchaseLimits });
    expect(p).toMatchObject({ status: 'pending', unit: 'second', secondsRequired: 90, secondsRemaining: 90 });
    expect(await getPurchase(t.db, merchant.id, p.id)).toEqual(p);
    const events = await t.db.select().from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${p.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'created', callsCounted: 0, callId: null, data: { purchase: p, callInProgress: false } });
    expect(events[0]!.createdAt.toISOString()).toBe(p.createdAt);
    // Merchants are not told of creations: no webhook, even with a URL set.
    expect(webhookOf({ id: events[0]!.id, type: 'created', createdAt: events[0]!.createdAt, purchase: p })).toBeNull();
    expect(await t.db.select().from(webhookDeliveries).where(sql`${webhookDeliveries.purchaseId} = ${p.id}`)).toEqual([]);
  });

  it("writes the caller's lapsed purchase expired and gives its number to the new one", async () => {
    const { merchant, offer } = await provision(t.db);
    const caller = newCaller();
    const old = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${old.id}`);
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    expect(p.numberToCall).toBe(old.numberToCall);
    expect(await getPurchase(t.db, merchant.id, old.id)).toMatchObject({ status: 'expired' });
    const events = await t.db.select().from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${old.id}`);
    expect(events.map((e) => e.type)).toEqual(['created', 'expired']);
  });

  it('refuses a second pending purchase for the same caller and number, pointing to the first', async () => {
    const { merchant, offer } = await provision(t.db);
    const caller = newCaller();
    const first = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const err = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }).catch((e) => e);
    expect(err).toBeInstanceOf(LedgerError);
    expect(err).toMatchObject({ code: 'caller_has_pending_purchase', extra: { pendingPurchaseId: first.id } });
  });

  it('never reveals another merchant purchase on a shared number: both are accepted', async () => {
    const a = await provision(t.db, { numbers: ['+33899000001'] }, 'A');
    const b = await provision(t.db, { numbers: ['+33899000001'] }, 'B');
    const caller = newCaller();
    const atA = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    const atB = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller });
    expect([atA.status, atB.status]).toEqual(['pending', 'pending']);
    expect(atB.numberToCall).toBe('+33899000001');
  });

  it('uses the next number of the offer when the first is taken by this caller', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000011', '+33899000012'] });
    const caller = newCaller();
    const p1 = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const p2 = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    expect([p1.numberToCall, p2.numberToCall]).toEqual(['+33899000011', '+33899000012']);
  });

  it('lets exactly one of many simultaneous requests through', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000021'] });
    const caller = newCaller();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'caller_has_pending_purchase' });
    }
  });

  it('reports an expired purchase without any sweeper, and frees the number for a new one', async () => {
    const { merchant, offer } = await provision(t.db);
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${p.id}`);
    expect((await getPurchase(t.db, merchant.id, p.id))?.status).toBe('expired');
    const again = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    expect(again.status).toBe('pending');
  });

  it('hides another merchant purchase', async () => {
    const a = await provision(t.db, {}, 'A');
    const b = await provision(t.db, {}, 'B');
    const p = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: newCaller() });
    expect(await getPurchase(t.db, b.merchant.id, p.id)).toBeNull();
    await expect(createPurchase(t.db, b.merchant.id, { offerId: a.offer.id, callerNumber: newCaller() })).rejects.toMatchObject({ code: 'offer_not_found' });
  });
});

describe('calls', () => {
  it('refuses, and records, every call it cannot credit', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000031'] });
    const caller = newCaller();
    const expiredCaller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: expiredCaller });
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${p.id}`);
    const cases: [string, string | null, string][] = [
      ['+33899000031', null, 'anonymous'],
      ['+33899000031', caller, 'no_purchase'],
      ['+33899999999', caller, 'unknown_number'],
      ['+33899000031', expiredCaller, 'expired'],
    ];
    for (const [dialed, from, outcome] of cases) {
      const { admission, facts } = await admit(dialed, from);
      expect(admission).toMatchObject({ action: 'reject', outcome });
      expect((await getCall(t.db, facts.channelId))?.outcome).toBe(outcome);
    }
    // The lapsed purchase is now written as expired, with its audit event.
    const events = await t.db.select().from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${p.id}`);
    expect(events.map((e) => e.type)).toEqual(['created', 'expired']);
  });

  it('is idempotent on the channel id', async () => {
    const caller = newCaller();
    const first = await admit('+33899999998', caller);
    const second = await admit('+33899999998', caller, first.facts.channelId);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.admission).toEqual(first.admission);
    const [{ n } = { n: -1 }] = (await t.db.execute(sql`select count(*)::int as n from calls where channel_id = ${first.facts.channelId}`)) as unknown as { n: number }[];
    expect(n).toBe(1);
  });

  it('counts a call that lasted the minimum and completes on the last one', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000041'], callsRequired: 2 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    for (const expected of [
      { callsCounted: 1, callsRemaining: 1, status: 'pending' },
      { callsCounted: 2, callsRemaining: 0, status: 'completed' },
    ]) {
      const { admission, count, facts } = await simulateCall(t.db, { dialed: '+33899000041', caller });
      expect(admission).toMatchObject({ action: 'answer', purchaseId: p.id });
      expect(count).toMatchObject({ counted: true, purchase: expected });
      const { call } = await endCall(t.db, facts.channelId, { cause: 16, causeText: 'Normal Clearing' });
      expect(call).toMatchObject({ outcome: 'counted', hangupCause: 16, purchaseId: p.id });
      expect(call!.answeredSeconds).toBeGreaterThanOrEqual(0);
    }
    const done = await getPurchase(t.db, merchant.id, p.id);
    expect(done?.completedAt).not.toBeNull();
    // Completed: a further call is not answered.
    expect((await admit('+33899000041', caller)).admission).toMatchObject({ action: 'reject', outcome: 'no_purchase' });
  });

  it('records too_short, not counted, when the caller leaves before the minimum', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000051'], minCallSeconds: 30 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { count, facts } = await simulateCall(t.db, { dialed: '+33899000051', caller });
    expect(count).toMatchObject({ counted: false, reason: 'too_early' });
    const { call } = await endCall(t.db, facts.channelId, { cause: 16 });
    expect(call?.outcome).toBe('too_short');
    expect((await getPurchase(t.db, merchant.id, p.id))?.callsCounted).toBe(0);
  });

  it('counts at hang-up a call that reached the minimum before the timer fired', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000061'], minCallSeconds: 5 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { facts } = await simulateCall(t.db, { dialed: '+33899000061', caller, count: false });
    await t.db.execute(sql`update calls set answered_at = now() - interval '6 seconds' where channel_id = ${facts.channelId}`);
    const { call } = await endCall(t.db, facts.channelId, { cause: 16 });
    expect(call).toMatchObject({ outcome: 'counted', answeredSeconds: 6 });
    expect((await getPurchase(t.db, merchant.id, p.id))?.status).toBe('completed');
  });

  it("takes back an answer the caller never got (their CANCEL crossed it), never a counted call's", async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000072'], minCallSeconds: 30 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { facts } = await simulateCall(t.db, { dialed: '+33899000072', caller, count: false });
    const { call } = await endCall(t.db, facts.channelId, { cause: 127, causeText: 'Interworking, unspecified', unanswered: true });
    expect(call).toMatchObject({ outcome: 'abandoned', answeredAt: null, answeredSeconds: null, hangupCause: 127 });
    // The page had shown "call in progress" (call_started): it is told the call ended.
    const events = await t.db.select({ type: purchaseEvents.type }).from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${p.id}`).orderBy(purchaseEvents.id);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['call_started', 'call_ended']);
    expect((await getPurchase(t.db, merchant.id, p.id))?.callsCounted).toBe(0);

    // A call already counted keeps its answer whatever its end says.
    const { merchant: m2, offer: o2 } = await provision(t.db, { numbers: ['+33899000073'], callsRequired: 2 });
    const caller2 = newCaller();
    await createPurchase(t.db, m2.id, { offerId: o2.id, callerNumber: caller2 });
    const counted = await simulateCall(t.db, { dialed: '+33899000073', caller: caller2 });
    expect(counted.count).toMatchObject({ counted: true });
    const { call: kept } = await endCall(t.db, counted.facts.channelId, { cause: 127, unanswered: true });
    expect(kept).toMatchObject({ outcome: 'counted' });
    expect(kept?.answeredAt).not.toBeNull();
  });

  it('records abandoned when the caller leaves before being answered', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000071'] });
    const caller = newCaller();
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { facts } = await admit('+33899000071', caller);
    expect((await endCall(t.db, facts.channelId, { cause: 16 })).call?.outcome).toBe('abandoned');
    expect((await endCall(t.db, facts.channelId, { cause: 16 })).call).toBeNull(); // idempotent
  });
});

describe('concurrency', () => {
  it('counts simultaneous calls for one purchase and completes it exactly once', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000081'], callsRequired: 3 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    // Each step for all three calls at once: admitted together, answered together, counted together.
    const admissions = await Promise.all(Array.from({ length: 3 }, () => admit('+33899000081', caller)));
    expect(admissions.every((a) => a.admission.action === 'answer')).toBe(true);
    const channels = admissions.map((a) => a.facts.channelId);
    await Promise.all(channels.map((c) => markAnswered(t.db, c)));
    const results = await Promise.all(channels.map((c) => countCall(t.db, c)));
    expect(results.filter((r) => r.counted && r.completed)).toHaveLength(1);
    expect((await getPurchase(t.db, merchant.id, p.id))).toMatchObject({ status: 'completed', callsCounted: 3 });
    const events = await t.db.select().from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${p.id}`);
    expect(events.filter((e) => e.type === 'completed')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'call_counted').map((e) => e.callsCounted).sort()).toEqual([1, 2, 3]);
  });

  it('does not answer more simultaneous calls than the purchase still needs', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000091'], callsRequired: 1 });
    const caller = newCaller();
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const admissions = await Promise.all([admit('+33899000091', caller), admit('+33899000091', caller)]);
    expect(admissions.map((a) => a.admission.action).sort()).toEqual(['answer', 'reject']);
    expect(admissions.find((a) => a.admission.action === 'reject')?.admission).toMatchObject({ outcome: 'call_in_progress' });
  });
});
