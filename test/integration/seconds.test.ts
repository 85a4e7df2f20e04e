// Per-second purchases in the ledger, on PostgreSQL: seconds credited during calls and at
// hang-up, across interrupted calls, never twice and never beyond the target; one call at a
// time; progress events at most every 10 s. A call's elapsed time is the database's, from
// calls.answered_at: the tests move answered_at back to stand for the time a call has lasted.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditLostCall, creditSeconds, createPurchase, endCall, getCall, getPurchase, LedgerError } from '../../db/ledger/index.js';
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
const newCaller = () => `+336${String(20_000_000 + ++seq).slice(-8)}`;
const newNumber = () => `+33899${String(300_000 + seq).slice(-6)}`;

/** A per-second offer on its own number and a purchase on it. */
async function perSecondPurchase(secondsRequired: number) {
  const number = newNumber();
  const { merchant, offer } = await provision(t.db, { unit: 'second', secondsRequired, callsRequired: 1, minCallSeconds: 0, numbers: [number] });
  const caller = newCaller();
  const purchase = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
  return { merchant, offer, purchase, number, caller };
}

/** Admits and answers a call: returns its channel id (or throws if refused). */
async function answeredCall(number: string, caller: string): Promise<string> {
  const { facts, admission } = await simulateCall(t.db, { dialed: number, caller, count: false });
  expect(admission).toMatchObject({ action: 'answer', unit: 'second' });
  return facts.channelId;
}

/**
 * The call has lasted `seconds` since its answer, by the database's clock. The next ledger call
 * sees a little more (this machine is shared and slow): tests use fractions that leave room.
 */
async function lasted(channelId: string, seconds: number): Promise<void> {
  await t.db.execute(sql`update calls set answered_at = now() - make_interval(secs => ${seconds}) where channel_id = ${channelId}`);
}

const read = async (merchantId: string, id: string) => (await getPurchase(t.db, merchantId, id))!;
const hangUp = (channelId: string) => endCall(t.db, channelId, { cause: 16, causeText: 'Normal Clearing' });
const eventTypes = async (purchaseId: string) =>
  ((await t.db.execute(sql`select type from purchase_events where purchase_id = ${purchaseId} order by id`)) as unknown as { type: string }[]).map((e) => e.type);

describe('per-second crediting', () => {
  it('shows the seconds on a per-second purchase only', async () => {
    const { purchase } = await perSecondPurchase(20);
    expect(purchase).toMatchObject({ unit: 'second', secondsRequired: 20, secondsCounted: 0, secondsRemaining: 20, callsRequired: 1, callsCounted: 0 });
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] });
    const perCall = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: newCaller() });
    expect(Object.keys(perCall)).not.toContain('unit');
    expect(Object.keys(perCall)).not.toContain('secondsRemaining');
  });

  it('credits elapsed whole seconds every few seconds and the rest at hang-up, never twice', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(60);
    const call = await answeredCall(number, caller);
    await lasted(call, 5.4);
    expect(await creditSeconds(t.db, call)).toMatchObject({ credited: true, seconds: 5, completed: false });
    // Asked again at the same moment: nothing more is due.
    expect(await creditSeconds(t.db, call)).toMatchObject({ credited: true, seconds: 0 });
    await lasted(call, 10.4);
    expect(await creditSeconds(t.db, call)).toMatchObject({ credited: true, seconds: 5 });
    await lasted(call, 12.3);
    await hangUp(call);
    expect(await getCall(t.db, call)).toMatchObject({ outcome: 'counted', secondsCredited: 12, answeredSeconds: 12 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ status: 'pending', secondsCounted: 12, secondsRemaining: 48 });
    // A hang-up seen twice (Asterisk and the IVR) credits nothing more.
    await hangUp(call);
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 12 });
  });

  it('completes over two interrupted calls: 12 s, then the confirmation credits the last seconds ahead', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(20);
    const first = await answeredCall(number, caller);
    await lasted(first, 5.1);
    await creditSeconds(t.db, first);
    await lasted(first, 12.2);
    await hangUp(first);
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 12, secondsRemaining: 8, status: 'pending' });

    const second = await answeredCall(number, caller);
    // Too early for the confirmation (8 s needed, 3 of them are the prompt's): credits what is due.
    await lasted(second, 2.5);
    const early = await creditSeconds(t.db, second, { confirming: true });
    expect(early).toMatchObject({ credited: true, seconds: 2, completed: false });
    // About 2.5 s later (less the few milliseconds this test took since).
    const until = early.credited ? early.secondsUntilCompletion : -1;
    expect(until).toBeGreaterThan(1.5);
    expect(until).toBeLessThanOrEqual(2.5);
    await lasted(second, 5.02);
    expect(await creditSeconds(t.db, second, { confirming: true })).toMatchObject({ credited: true, seconds: 6, completed: true });
    const done = await read(merchant.id, purchase.id);
    expect(done).toMatchObject({ status: 'completed', secondsCounted: 20, secondsRemaining: 0, callsCounted: 1, callsRemaining: 0 });
    expect(done.completedAt).not.toBeNull();
    // The IVR hangs up after the confirmation: nothing beyond the target.
    await lasted(second, 7.4);
    await hangUp(second);
    expect(await getCall(t.db, second)).toMatchObject({ outcome: 'counted', secondsCredited: 8 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 20 });
    expect((await eventTypes(purchase.id)).filter((e) => e === 'completed')).toHaveLength(1);
  });

  it('never credits beyond the target, even for a caller kept far too long', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(30);
    const call = await answeredCall(number, caller);
    await lasted(call, 95);
    await hangUp(call);
    expect(await getCall(t.db, call)).toMatchObject({ outcome: 'counted', secondsCredited: 30 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ status: 'completed', secondsCounted: 30 });
  });

  it('keeps the seconds credited before a crash (lost call) and counts nothing unmeasured', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(60);
    const call = await answeredCall(number, caller);
    await lasted(call, 15.3);
    await creditSeconds(t.db, call);
    await lasted(call, 19.9);
    await endCall(t.db, call, { lost: true });
    expect(await getCall(t.db, call)).toMatchObject({ outcome: 'lost', secondsCredited: 15 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 15, status: 'pending' });
    // The operator's lost-call credit counts whole calls: refused for a per-second purchase.
    const err = await creditLostCall(t.db, call, { by: 'test', reason: 'billed' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerError);
    expect(err).toMatchObject({ code: 'call_not_creditable', extra: { reason: 'per_second_purchase' } });
  });

  it('takes no seconds once the purchase is cancelled, and says so', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(60);
    const call = await answeredCall(number, caller);
    await lasted(call, 6);
    await creditSeconds(t.db, call);
    await t.db.execute(sql`update purchases set status = 'cancelled', ended_at = now() where id = ${purchase.id}`);
    await lasted(call, 11);
    expect(await creditSeconds(t.db, call)).toMatchObject({ credited: false, reason: 'purchase_ended' });
    await hangUp(call);
    expect(await getCall(t.db, call)).toMatchObject({ outcome: 'counted', secondsCredited: 6 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 6, status: 'cancelled' });
  });

  it('records a too_short call that credited no whole second', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(60);
    const call = await answeredCall(number, caller);
    await lasted(call, 0.3);
    await hangUp(call);
    expect(await getCall(t.db, call)).toMatchObject({ outcome: 'too_short', secondsCredited: 0 });
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 0 });
  });
});

describe('one call at a time per per-second purchase', () => {
  it('refuses a second call unanswered while one is in progress, and takes it after', async () => {
    const { number, caller } = await perSecondPurchase(60);
    const first = await answeredCall(number, caller);
    const second = await simulateCall(t.db, { dialed: number, caller, answer: false });
    expect(second.admission).toMatchObject({ action: 'reject', outcome: 'call_in_progress' });
    await lasted(first, 3);
    await hangUp(first);
    const third = await simulateCall(t.db, { dialed: number, caller, answer: false });
    expect(third.admission).toMatchObject({ action: 'answer', unit: 'second', secondsRemaining: 57 });
  });

  it('answers exactly one of many simultaneous calls (the purchase lock orders them)', async () => {
    const { number, caller } = await perSecondPurchase(60);
    const results = await Promise.all(Array.from({ length: 6 }, () => simulateCall(t.db, { dialed: number, caller, answer: false })));
    const answered = results.filter((r) => r.admission.action === 'answer');
    expect(answered).toHaveLength(1);
    expect(results.filter((r) => r.admission.action === 'reject' && r.admission.outcome === 'call_in_progress')).toHaveLength(5);
  });

  it('refuses a call on a completed purchase', async () => {
    const { number, caller } = await perSecondPurchase(10);
    const call = await answeredCall(number, caller);
    await lasted(call, 11);
    await hangUp(call);
    const again = await simulateCall(t.db, { dialed: number, caller, answer: false });
    expect(again.admission).toMatchObject({ action: 'reject', outcome: 'no_purchase' });
  });
});

describe('per-second progress events', () => {
  it('tells progress at most every 10 s during a call, at hang-up, and completion once', async () => {
    const { merchant, purchase, number, caller } = await perSecondPurchase(40);
    const call = await answeredCall(number, caller);
    await lasted(call, 5.2);
    await creditSeconds(t.db, call);
    await lasted(call, 10.2);
    await creditSeconds(t.db, call);
    // Both credits came within 10 s of the answer (call_started): no progress event yet.
    expect(await eventTypes(purchase.id)).toEqual(['created', 'call_started']);
    await t.db.execute(sql`update purchase_events set created_at = created_at - interval '11 seconds' where purchase_id = ${purchase.id}`);
    await lasted(call, 15.2);
    await creditSeconds(t.db, call);
    await lasted(call, 20.2);
    await creditSeconds(t.db, call);
    expect(await eventTypes(purchase.id)).toEqual(['created', 'call_started', 'seconds_credited']);
    await lasted(call, 22.3);
    await hangUp(call);
    expect(await eventTypes(purchase.id)).toEqual(['created', 'call_started', 'seconds_credited', 'seconds_credited']);
    const [last] = (await t.db.execute(
      sql`select data from purchase_events where purchase_id = ${purchase.id} order by id desc limit 1`,
    )) as unknown as { data: { purchase: Record<string, unknown>; callInProgress: boolean } }[];
    expect(last!.data).toMatchObject({ callInProgress: false, purchase: { unit: 'second', secondsCounted: 22, secondsRemaining: 18 } });
    const hooks = (await t.db.execute(sql`select type from webhook_deliveries where purchase_id = ${purchase.id} order by id`)) as unknown as { type: string }[];
    // The merchant has no webhook URL here: the outbox may hold nothing; when it does, progress is purchase.progress.
    for (const h of hooks) expect(['purchase.progress', 'purchase.completed']).toContain(h.type);
    expect(await read(merchant.id, purchase.id)).toMatchObject({ secondsCounted: 22 });
  });
});
