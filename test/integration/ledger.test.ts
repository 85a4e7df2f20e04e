// The ledger against a real PostgreSQL: purchases, call admission and counting, concurrency.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admitCall,
  countCall,
  createPurchase,
  endCall,
  getCall,
  getPurchase,
  LedgerError,
  markAnswered,
} from '../../db/ledger/index.js';
import { purchaseEvents } from '../../db/schema.js';
import type { CallFacts } from '../../domain/index.js';
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
const facts = (dialed: string, caller: string | null): CallFacts => ({
  channelId: `chan-${++seq}-${Math.random()}`,
  asteriskId: 'node-a',
  dialedRaw: dialed,
  dialed,
  callerRaw: caller ?? 'anonymous',
  caller,
});
const admit = (f: CallFacts) => admitCall(t.db, f, { maxCallSeconds: 3600, defaultLanguage: 'fr' });

describe('purchases', () => {
  it('creates a pending purchase on the offer number', async () => {
    const { merchant, offer } = await provision(t.db, { callsRequired: 3 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller, reference: 'order-1' });
    expect(p).toMatchObject({ status: 'pending', numberToCall: '+33899123456', callsRequired: 3, callsCounted: 0, callsRemaining: 3, reference: 'order-1' });
    expect(new Date(p.expiresAt).getTime() - new Date(p.createdAt).getTime()).toBe(600_000);
  });

  it('refuses a second pending purchase for the same caller and number, pointing to the first', async () => {
    const { merchant, offer } = await provision(t.db);
    const caller = newCaller();
    const first = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const err = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }).catch((e) => e);
    expect(err).toBeInstanceOf(LedgerError);
    expect(err).toMatchObject({ code: 'caller_has_pending_purchase', extra: { pendingPurchaseId: first.id } });
  });

  it('never reveals another merchant purchase on a shared number', async () => {
    const a = await provision(t.db, { numbers: ['+33899000001'] }, 'A');
    const b = await provision(t.db, { numbers: ['+33899000001'] }, 'B');
    const caller = newCaller();
    await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: caller });
    const err = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: caller }).catch((e) => e);
    expect(err).toMatchObject({ code: 'caller_has_pending_purchase', extra: {} });
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
    const cases: [CallFacts, string][] = [
      [facts('+33899000031', null), 'anonymous'],
      [facts('+33899000031', caller), 'no_purchase'],
      [facts('+33899999999', caller), 'unknown_number'],
      [facts('+33899000031', expiredCaller), 'expired'],
    ];
    for (const [f, outcome] of cases) {
      const { admission } = await admit(f);
      expect(admission).toMatchObject({ action: 'reject', outcome });
      expect((await getCall(t.db, f.channelId))?.outcome).toBe(outcome);
    }
    // The lapsed purchase is now written as expired, with its audit event.
    const events = await t.db.select().from(purchaseEvents).where(sql`${purchaseEvents.purchaseId} = ${p.id}`);
    expect(events.map((e) => e.type)).toEqual(['created', 'expired']);
  });

  it('is idempotent on the channel id', async () => {
    const f = facts('+33899999998', newCaller());
    const first = await admit(f);
    const second = await admit(f);
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ admission: first.admission, duplicate: true });
    const [{ n } = { n: -1 }] = (await t.db.execute(sql`select count(*)::int as n from calls where channel_id = ${f.channelId}`)) as unknown as { n: number }[];
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
      const f = facts('+33899000041', caller);
      expect((await admit(f)).admission).toMatchObject({ action: 'answer', purchaseId: p.id });
      await markAnswered(t.db, f.channelId);
      const r = await countCall(t.db, f.channelId);
      expect(r).toMatchObject({ counted: true, purchase: expected });
      const { call } = await endCall(t.db, f.channelId, { cause: 16, causeText: 'Normal Clearing' });
      expect(call).toMatchObject({ outcome: 'counted', hangupCause: 16, purchaseId: p.id });
      expect(call!.answeredSeconds).toBeGreaterThanOrEqual(0);
    }
    const done = await getPurchase(t.db, merchant.id, p.id);
    expect(done?.completedAt).not.toBeNull();
    // Completed: a further call is not answered.
    expect((await admit(facts('+33899000041', caller))).admission).toMatchObject({ action: 'reject', outcome: 'no_purchase' });
  });

  it('records too_short, not counted, when the caller leaves before the minimum', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000051'], minCallSeconds: 30 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const f = facts('+33899000051', caller);
    await admit(f);
    await markAnswered(t.db, f.channelId);
    expect(await countCall(t.db, f.channelId)).toMatchObject({ counted: false, reason: 'too_early' });
    const { call } = await endCall(t.db, f.channelId, { cause: 16 });
    expect(call?.outcome).toBe('too_short');
    expect((await getPurchase(t.db, merchant.id, p.id))?.callsCounted).toBe(0);
  });

  it('counts at hang-up a call that reached the minimum before the timer fired', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000061'], minCallSeconds: 5 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const f = facts('+33899000061', caller);
    await admit(f);
    await markAnswered(t.db, f.channelId);
    await t.db.execute(sql`update calls set answered_at = now() - interval '6 seconds' where channel_id = ${f.channelId}`);
    const { call } = await endCall(t.db, f.channelId, { cause: 16 });
    expect(call).toMatchObject({ outcome: 'counted', answeredSeconds: 6 });
    expect((await getPurchase(t.db, merchant.id, p.id))?.status).toBe('completed');
  });

  it('records abandoned when the caller leaves before being answered', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000071'] });
    const caller = newCaller();
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const f = facts('+33899000071', caller);
    await admit(f);
    expect((await endCall(t.db, f.channelId, { cause: 16 })).call?.outcome).toBe('abandoned');
    expect((await endCall(t.db, f.channelId, { cause: 16 })).call).toBeNull(); // idempotent
  });
});

describe('concurrency', () => {
  it('counts simultaneous calls for one purchase and completes it exactly once', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899000081'], callsRequired: 3 });
    const caller = newCaller();
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const calls = Array.from({ length: 3 }, () => facts('+33899000081', caller));
    const admissions = await Promise.all(calls.map(admit));
    expect(admissions.every((a) => a.admission.action === 'answer')).toBe(true);
    await Promise.all(calls.map((c) => markAnswered(t.db, c.channelId)));
    const results = await Promise.all(calls.map((c) => countCall(t.db, c.channelId)));
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
    const admissions = await Promise.all([facts('+33899000091', caller), facts('+33899000091', caller)].map(admit));
    expect(admissions.map((a) => a.admission.action).sort()).toEqual(['answer', 'reject']);
    expect(admissions.find((a) => a.admission.action === 'reject')?.admission).toMatchObject({ outcome: 'call_in_progress' });
  });
});
