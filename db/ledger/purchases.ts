// Purchases as merchants see them: create (caller ID or lent number), read, cancel, extend.
import { and, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { ledgerBatchSize } from '../../core/metrics.js';
import { effectiveStatus, purchaseLifetimeSeconds, type PurchaseLimits, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { offers, purchaseEvents, purchases, type Offer } from '../schema.js';
import { builtOnce } from './built-once.js';
import { createTogether } from './creation-batch.js';
import { BatchQueue, queuePerHandle } from './batch-queue.js';
import { newPurchaseRow, numberOrRefusal, offerNumbersJson, type CreationRequest, type NewPurchase } from './new-purchase.js';
import { clientIpHash, creationAges, creationLimitLockKeys, creationLimitLocks, refuseBeyondLimits, type CreationAges, type CreationIdentity } from './identity.js';
import { extendLending, lendNumber, pickFreeNumber } from './lending.js';
import {
  endPurchase,
  EVENTS_CHANNEL,
  isPgError,
  LedgerError,
  noCallInProgress,
  purchaseById,
  purchaseWithClock,
  recordEvent,
  toPurchaseView,
  type PurchaseEventData,
  type PurchaseWithClock,
  type Tx,
  rowsOf,
} from './shared.js';
import { queueWebhook, webhookOf } from './webhooks.js';

export type { NewPurchase } from './new-purchase.js';

export interface CreateOptions {
  /** Creation limits per phone number and per buyer address (domain/identity.ts); none when absent. */
  limits?: PurchaseLimits | undefined;
}

/** Attempts of a purchase creation that keeps losing races (see createPurchase). */
const MAX_ATTEMPTS = 10;

/**
 * Creates a purchase.
 * - caller_id: the offer's first number on which this caller has no pending purchase AT THIS
 *   MERCHANT is the number to call. If the caller already has one on every number of the
 *   offer, the request is refused (409) rather than replacing the older purchase: that one may
 *   already hold paid calls, and silently cancelling it would lose the buyer's money. Pending
 *   purchases at other merchants are never read here (issue 13: no cross-merchant leak); a
 *   call then pays the most recent pending one, and the caller hears whose it is.
 * - with `limits`: past the creations allowed per phone number or buyer address in the
 *   window, too_many_purchases (429 + Retry-After).
 * - dynamic_number: a free pool number is lent to this purchase for the offer's hold time, or
 *   pool_exhausted (503) tells when the soonest number comes free.
 * Creations that arrive while others are being written are written together, in one
 * transaction (creationQueue below); each gets the answer it would have had alone.
 */
export async function createPurchase(db: Database, merchantId: string, input: NewPurchase, opts: CreateOptions = {}): Promise<PurchaseView> {
  const ipHash = input.clientIp ? await clientIpHash(db, input.clientIp) : null;
  return creationQueue(db).submit({ merchantId, input, ipHash, limits: opts.limits });
}

/**
 * Purchase creations that arrive together are written together (batch-queue.ts,
 * creation-batch.ts). At most two transactions of them at once per process: while one is in
 * PostgreSQL the next batch gathers. One, two and four were probed (8 s rounds of POST
 * /v1/purchases, 20 connections) only while cached sequential scans still slowed the batch's
 * reads (docs/performance.md): the same rate within this machine's noise then; not tuned since. A batch holds
 * creations under equal limits only (it reads one window of counts).
 */
const creationQueue = queuePerHandle(
  (db: Database) =>
    new BatchQueue<CreationRequest, PurchaseView>(
      { alone: (req) => createAlone(db, req), together: (reqs) => createTogether(db, reqs) },
      { maxRunning: 2, maxBatch: 32, keyOf: limitsKey, onRun: (way, size) => ledgerBatchSize.observe({ op: 'purchase_creation', way }, size) },
    ),
);

/** Equal for creations under equal limits (the same values, not only the same object). */
export function limitsKey({ limits }: CreationRequest): string {
  return limits ? `${limits.perNumber}/${limits.perClientIp}/${limits.windowSeconds}` : 'none';
}

/** One creation in a transaction of its own, run again when it loses a race. */
async function createAlone(db: Database, { merchantId, input, ipHash, limits }: CreationRequest): Promise<PurchaseView> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => createPurchaseIn(tx, merchantId, input, ipHash, limits));
    } catch (err) {
      // Concurrent requests both passed the checks and a constraint let only one write in: the
      // unique index (one pending purchase per caller, number and merchant; the loser's insert waited
      // for the winner's commit) or the exclusion constraint (a number lent after our snapshot
      // was taken). Run again: the new transaction sees the winner and gives this request the
      // answer it would have had arriving just after it (the winner's id in the 409, the next
      // free number, the real Retry-After). Each retry follows a commit that took a number,
      // so a few suffice; the cap only bounds a pathological storm.
      const sameCaller = isPgError(err, '23505');
      const sameNumber = isPgError(err, '23P01');
      if (!sameCaller && !sameNumber) throw err;
      if (attempt < MAX_ATTEMPTS) continue;
      throw sameCaller
        ? new LedgerError('caller_has_pending_purchase', 'This caller already has a pending purchase on this number.')
        : new LedgerError('pool_exhausted', 'Every number of this offer is lent or resting.', { retryAfterSeconds: 1 });
    }
  }
}

/**
 * One creation, in the transaction createAlone opened. Its statements were its cost (a
 * dozen, each a round trip waiting for the previous one, each with its own CPU in this
 * process and in PostgreSQL; profiled under load), so it is built of few:
 * 1. the offer, its numbers, the clock, the id of the `created` event (a sequence value, lost
 *    if the creation is refused, as a rolled-back insert's would be) and (with limits) the
 *    limits' advisory locks: one statement, before anything about purchases is read;
 * 2. the limits' counts and this caller's pending purchases at this merchant: one statement,
 *    whose snapshot is taken after the locks;
 * 3. the purchase, its `created` event and the NOTIFY: one statement. The purchase answered
 *    and the event's snapshot are built from the values that statement writes (with the clock
 *    of step 1: now() is the transaction's start, the same in every statement), so nothing is
 *    read back.
 * A dynamic number's lending keeps its own statements (lending.ts).
 */
async function createPurchaseIn(tx: Tx, merchantId: string, input: NewPurchase, ipHash: string | null, limits: PurchaseLimits | undefined): Promise<PurchaseView> {
  const [found] = await (limits ? offerWithLimitLocks : offerAlone)(tx, {
    offerId: input.offerId,
    merchantId,
    ...creationLimitLockKeys({ callerNumber: input.callerNumber ?? null, clientIpHash: ipHash }),
  });
  // Another merchant's offer is reported exactly like a missing one.
  if (!found) throw new LedgerError('offer_not_found', `No offer with id ${input.offerId}.`);
  const { numbers, now, eventId, locks: _locks, ...offer } = found;
  if (offer.mode === 'access_code') {
    throw new LedgerError('access_code_offer', 'This offer sells access codes: callers pay by calling its number, no purchase is created first.');
  }
  const callerNumber = offer.mode === 'caller_id' ? (input.callerNumber ?? null) : null;
  const { ages, mine } = await readBeforeCreation(tx, merchantId, { callerNumber, clientIpHash: ipHash }, numbers, limits);
  if (limits) refuseBeyondLimits(ages, limits);
  let numberToCall: string;
  if (offer.mode === 'dynamic_number') {
    numberToCall = await pickFreeNumber(tx, offer);
  } else {
    if (!callerNumber || !mine) throw new LedgerError('caller_number_required', 'This offer identifies the buyer by caller ID: callerNumber is required.');
    numberToCall = await numberForCaller(tx, offer, numbers, mine);
  }
  const created = newPurchaseRow({ merchantId, offer, reference: input.reference ?? null, callerNumber, ipHash, numberToCall, now });
  const lifetimeSeconds = purchaseLifetimeSeconds(offer);
  const view = toPurchaseView(created);
  // No call can be in progress on a purchase that does not exist yet.
  const data: PurchaseEventData = { purchase: view, callInProgress: false };
  const event = { id: eventId, type: 'created' as const, createdAt: now, merchantId, purchase: view };
  await tx.execute(sql`
    with p as (
      insert into ${purchases} (id, merchant_id, offer_id, mode, reference, caller_number, client_ip_hash, number_to_call,
                                calls_required, min_call_seconds, unit, seconds_required, language, created_at, expires_at)
      values (${created.id}, ${merchantId}, ${offer.id}, ${offer.mode}, ${created.reference}, ${callerNumber}, ${ipHash}, ${numberToCall},
              ${offer.callsRequired}, ${offer.minCallSeconds}, ${offer.unit}, ${offer.secondsRequired}, ${offer.language},
              now(), now() + make_interval(secs => ${lifetimeSeconds}))
      returning id
    ), e as (
      insert into ${purchaseEvents} (id, purchase_id, type, calls_counted, call_id, data, created_at)
      select ${eventId}, p.id, 'created', 0, null, ${JSON.stringify(data)}::jsonb, now() from p
      returning id
    )
    select pg_notify(${EVENTS_CHANNEL}, ${created.id})`);
  // Merchants are not told of a creation (domain/webhook-event.ts); should they ever be, the
  // delivery is queued like any event's.
  if (webhookOf(event)) await queueWebhook(tx, event);
  if (offer.mode === 'dynamic_number') await lendNumber(tx, offer, numberToCall, created.id);
  return view;
}

/**
 * Step 1 of a creation, built once per process (built-once.ts; drizzle building the
 * creation's two reads was 12% of the API's CPU per creation, docs/performance.md): the offer, its numbers,
 * the clock, the `created` event's id and, with limits, the limits' locks.
 */
const offerForCreation = (withLimitLocks: boolean) =>
  builtOnce(withLimitLocks ? 'offer_for_creation_with_limit_locks' : 'offer_for_creation', (tx, name) =>
    tx
      .select({
        ...getTableColumns(offers),
        numbers: offerNumbersJson,
        now: sql<Date>`now()`.mapWith(purchases.createdAt),
        eventId: sql<number>`nextval(pg_get_serial_sequence('purchase_events', 'id'))`.mapWith(Number),
        // Before anything else is read: the limits' locks also order this caller's creations.
        locks: withLimitLocks ? creationLimitLocks(offers.mode) : sql<number>`0`,
      })
      .from(offers)
      .where(and(eq(offers.id, sql.placeholder('offerId')), eq(offers.merchantId, sql.placeholder('merchantId'))))
      .prepare(name),
  );
const offerWithLimitLocks = offerForCreation(true);
const offerAlone = offerForCreation(false);

/** This caller's pending caller-ID purchases at this merchant on the offer's numbers. */
interface PendingOfCaller {
  /** Those whose time is over and that no call is paying for, locked: they are written expired. */
  lapsed: { id: string; callsCounted: number }[];
  /** All of them (lapsed ones included). */
  pending: { id: string; number: string; offerId: string }[];
}

/**
 * Step 2 of a creation, one statement (one snapshot, taken after step 1's locks): the ages of
 * the creations the limits count, and this caller's pending purchases at this merchant on
 * `numbers` (null without a caller number). Only this merchant's purchases are read: another
 * merchant's pending purchase for this caller neither blocks this one nor changes which
 * queries run (no answer, no timing, tells a merchant what the caller does elsewhere).
 */
async function readBeforeCreation(
  tx: Tx,
  merchantId: string,
  who: CreationIdentity,
  numbers: string[],
  limits: PurchaseLimits | undefined,
): Promise<{ ages: CreationAges; mine: PendingOfCaller | null }> {
  const ages = limits ? creationAges(who, limits) : { byNumber: null, byAddress: null };
  const caller = who.callerNumber;
  if (!ages.byNumber && !ages.byAddress && !caller) return { ages: { byNumber: null, byAddress: null }, mine: null };
  const ofCaller = caller
    ? sql`p.status = 'pending' and p.merchant_id = ${merchantId} and p.caller_number = ${caller} and ${inArray(sql`p.number_to_call`, numbers)}`
    : sql`false`;
  const [row] = rowsOf<{ by_number: number[] | null; by_address: number[] | null; lapsed: PendingOfCaller['lapsed']; pending: PendingOfCaller['pending'] }>(
    await tx.execute(sql`
      with lapsed as (
        select p.id, p.calls_counted from ${purchases} p
         where ${ofCaller} and p.expires_at <= now() and ${noCallInProgress(sql`p.id`)}
           for update
      )
      select ${ages.byNumber ?? sql`null::json`} as by_number,
             ${ages.byAddress ?? sql`null::json`} as by_address,
             (select coalesce(json_agg(json_build_object('id', l.id, 'callsCounted', l.calls_counted)), '[]'::json) from lapsed l) as lapsed,
             (select coalesce(json_agg(json_build_object('id', p.id, 'number', p.number_to_call, 'offerId', p.offer_id)), '[]'::json)
                from ${purchases} p where ${ofCaller} and p.mode = 'caller_id') as pending`),
  );
  return {
    ages: { byNumber: row!.by_number, byAddress: row!.by_address },
    mine: caller ? { lapsed: row!.lapsed, pending: row!.pending } : null,
  };
}

async function numberForCaller(tx: Tx, offer: Offer, numbers: string[], mine: PendingOfCaller): Promise<string> {
  // Lapsed purchases are written expired (with their events) so the unique index frees up;
  // they were locked before `pending` was read, so the rest of `pending` still holds.
  for (const p of mine.lapsed) await endPurchase(tx, p.id, 'expired', p.callsCounted);
  const held = mine.pending.filter((t) => !mine.lapsed.some((l) => l.id === t.id));
  return numberOrRefusal(offer.id, numbers, held.map((t) => ({ purchaseId: t.id, offerId: t.offerId, number: t.number })));
}

/** The status read, built once per database: building drizzle's SQL cost more than running it. */
function purchaseRead(db: Database) {
  return db
    .select(purchaseWithClock)
    .from(purchases)
    .where(and(eq(purchases.id, sql.placeholder('purchaseId')), eq(purchases.merchantId, sql.placeholder('merchantId'))))
    .prepare('get_purchase');
}

/**
 * Several status reads in one statement. Each purchase is found by its id AND its merchant
 * (the pair, in SQL and again here): a merchant never gets another merchant's purchase, even
 * read in the same statement. `= any(array(…))` probes the primary key whatever the statistics.
 */
function purchasesRead(db: Database) {
  return db
    .select(purchaseWithClock)
    .from(purchases)
    .where(
      sql`${purchases.id} = any(array(select value::uuid from json_array_elements_text(${sql.placeholder('ids')}::json)))
      and ${purchases.id}::text || ' ' || ${purchases.merchantId}::text = any(array(select json_array_elements_text(${sql.placeholder('pairs')}::json)))`,
    )
    .prepare('get_purchases');
}

interface PurchaseReadRequest {
  merchantId: string;
  purchaseId: string;
}

/**
 * Status reads that arrive while others are under way are made in one statement (batch-queue.ts):
 * merchants poll, and each statement's round trip was a third of a read's CPU in the API
 * (docs/performance.md). Four at once per process, so a lone read never waits behind another.
 */
const readQueue = queuePerHandle((db: Database) => {
  const one = purchaseRead(db);
  const many = purchasesRead(db);
  return new BatchQueue<PurchaseReadRequest, PurchaseView | null>(
    {
      alone: async (r) => {
        const [row] = await one.execute({ purchaseId: r.purchaseId, merchantId: r.merchantId });
        return row ? toPurchaseView(row) : null;
      },
      together: async (reqs) => {
        const rows = await many.execute({
          ids: JSON.stringify(reqs.map((r) => r.purchaseId)),
          pairs: JSON.stringify(reqs.map((r) => `${r.purchaseId} ${r.merchantId}`)),
        });
        const byId = new Map(rows.map((row) => [row.id, row]));
        return reqs.map((r) => {
          const row = byId.get(r.purchaseId);
          return { value: row && row.merchantId === r.merchantId ? toPurchaseView(row) : null };
        });
      },
    },
    { maxRunning: 4, maxBatch: 64, onRun: (way, size) => ledgerBatchSize.observe({ op: 'purchase_read', way }, size) },
  );
});

export function getPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView | null> {
  return readQueue(db).submit({ merchantId, purchaseId });
}

/** Cancels a pending purchase; a lent number is released at once (then rests). */
export async function cancelPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView> {
  return db.transaction(async (tx) => {
    const row = await lockPendingPurchase(tx, merchantId, purchaseId, 'cancelled');
    await endPurchase(tx, row.id, 'cancelled', row.callsCounted);
    return toPurchaseView(await purchaseById(tx, row.id));
  });
}

/** Extends the hold of a lent number (dynamic_number), bounded by the offer's maximum. */
export async function extendPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView> {
  return db.transaction(async (tx) => {
    const row = await lockPendingPurchase(tx, merchantId, purchaseId, 'extended');
    if (row.mode !== 'dynamic_number') throw new LedgerError('not_a_lending', 'Only a purchase on a lent number can be extended.');
    const [offer] = await tx.select().from(offers).where(eq(offers.id, row.offerId));
    await extendLending(tx, offer!, row.id);
    await recordEvent(tx, row.id, 'extended');
    return toPurchaseView(await purchaseById(tx, row.id));
  });
}

async function lockPendingPurchase(tx: Tx, merchantId: string, purchaseId: string, verb: string) {
  const [row] = await tx
    .select(purchaseWithClock)
    .from(purchases)
    .where(and(eq(purchases.id, purchaseId), eq(purchases.merchantId, merchantId)))
    .for('update');
  if (!row) throw new LedgerError('purchase_not_found', `No purchase with id ${purchaseId}.`);
  const status = effectiveStatus(row);
  if (status !== 'pending') throw new LedgerError('purchase_not_pending', `Purchase ${purchaseId} is ${status} and cannot be ${verb}.`);
  return row;
}

/**
 * Writes the expiry of pending purchases whose time is over, with their events and webhooks.
 * Correctness never depends on it (a lapsed purchase already reads as expired); it exists so
 * that pages and merchants are told. Safe to run from several processes at once.
 */
export async function expireDuePurchases(db: Database, limit = 100): Promise<number> {
  return db.transaction(async (tx) => {
    const due = await tx
      .select({ id: purchases.id, callsCounted: purchases.callsCounted })
      .from(purchases)
      .where(and(eq(purchases.status, 'pending'), sql`${purchases.expiresAt} <= now()`, noCallInProgress(purchases.id)))
      .limit(limit)
      .for('update', { skipLocked: true });
    for (const p of due) await endPurchase(tx, p.id, 'expired', p.callsCounted);
    return due.length;
  });
}
