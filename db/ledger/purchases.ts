// Purchases as merchants see them: create (caller ID or lent number), read, cancel, extend.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { effectiveStatus, purchaseLifetimeSeconds, type PurchaseLimits, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { offerNumbers, offers, purchases, type Offer } from '../schema.js';
import { clientIpHash, enforceCreationLimits } from './identity.js';
import { extendLending, lendNumber, pickFreeNumber } from './lending.js';
import {
  endPurchase,
  isPgError,
  LedgerError,
  noCallInProgress,
  purchaseById,
  purchaseWithClock,
  recordEvent,
  toPurchaseView,
  type Tx,
} from './shared.js';

export interface NewPurchase {
  offerId: string;
  /** E.164 buyer number; required in caller_id mode, ignored in dynamic_number mode. */
  callerNumber?: string | null | undefined;
  reference?: string | null | undefined;
  /** The buyer's IP address as the merchant saw it (optional): bounds creations per address. Stored as a keyed hash. */
  clientIp?: string | null | undefined;
}

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
 */
export async function createPurchase(db: Database, merchantId: string, input: NewPurchase, opts: CreateOptions = {}): Promise<PurchaseView> {
  const ipHash = input.clientIp ? await clientIpHash(db, input.clientIp) : null;
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => createPurchaseIn(tx, merchantId, input, ipHash, opts.limits));
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

async function createPurchaseIn(tx: Tx, merchantId: string, input: NewPurchase, ipHash: string | null, limits: PurchaseLimits | undefined): Promise<PurchaseView> {
  const offer = await offerOfMerchant(tx, merchantId, input.offerId);
  if (offer.mode === 'access_code') {
    throw new LedgerError('access_code_offer', 'This offer sells access codes: callers pay by calling its number, no purchase is created first.');
  }
  const callerNumber = offer.mode === 'caller_id' ? (input.callerNumber ?? null) : null;
  // Before anything else is read: the limits' locks also order this caller's creations.
  if (limits) await enforceCreationLimits(tx, { callerNumber, clientIpHash: ipHash }, limits);
  let numberToCall: string;
  if (offer.mode === 'dynamic_number') {
    numberToCall = await pickFreeNumber(tx, offer);
  } else {
    if (!input.callerNumber) throw new LedgerError('caller_number_required', 'This offer identifies the buyer by caller ID: callerNumber is required.');
    numberToCall = await numberForCaller(tx, merchantId, offer, input.callerNumber);
  }
  const [row] = await tx
    .insert(purchases)
    .values({
      merchantId,
      offerId: offer.id,
      mode: offer.mode,
      reference: input.reference ?? null,
      callerNumber,
      clientIpHash: ipHash,
      numberToCall,
      callsRequired: offer.callsRequired,
      minCallSeconds: offer.minCallSeconds,
      unit: offer.unit,
      secondsRequired: offer.secondsRequired,
      language: offer.language,
      expiresAt: sql`now() + make_interval(secs => ${purchaseLifetimeSeconds(offer)})`,
    })
    .returning({ id: purchases.id });
  if (offer.mode === 'dynamic_number') await lendNumber(tx, offer, numberToCall, row!.id);
  await recordEvent(tx, row!.id, 'created');
  return toPurchaseView(await purchaseById(tx, row!.id));
}

async function numberForCaller(tx: Tx, merchantId: string, offer: Offer, callerNumber: string): Promise<string> {
  const numbers = (
    await tx.select({ number: offerNumbers.number }).from(offerNumbers).where(eq(offerNumbers.offerId, offer.id)).orderBy(asc(offerNumbers.number))
  ).map((r) => r.number);
  // Only this merchant's purchases are read: another merchant's pending purchase for this
  // caller neither blocks this one nor changes which queries run (no answer, no timing, tells
  // a merchant what the caller does elsewhere).
  await expireLapsedPurchases(tx, merchantId, callerNumber, numbers);
  const taken = await tx
    .select({ id: purchases.id, number: purchases.numberToCall, merchantId: purchases.merchantId, offerId: purchases.offerId })
    .from(purchases)
    .where(
      and(
        eq(purchases.status, 'pending'),
        eq(purchases.mode, 'caller_id'),
        eq(purchases.merchantId, merchantId),
        eq(purchases.callerNumber, callerNumber),
        inArray(purchases.numberToCall, numbers),
      ),
    );
  const free = numbers.find((n) => !taken.some((t) => t.number === n));
  if (free) return free;
  // Point the merchant to its own pending purchase so it can resume it (all taken are its own).
  const own = taken.find((t) => t.merchantId === merchantId && t.offerId === offer.id);
  throw new LedgerError(
    'caller_has_pending_purchase',
    own
      ? 'This caller already has a pending purchase for this offer: resume it, or cancel it first.'
      : 'This caller already has a pending purchase on the number(s) of this offer; retry once it ends.',
    own ? { pendingPurchaseId: own.id } : {},
  );
}

/** Writes the expiry of this caller's lapsed pending purchases at this merchant so the unique index frees up. */
async function expireLapsedPurchases(tx: Tx, merchantId: string, callerNumber: string, numbers: string[]): Promise<void> {
  const lapsed = await tx
    .select({ id: purchases.id, callsCounted: purchases.callsCounted })
    .from(purchases)
    .where(
      and(
        eq(purchases.status, 'pending'),
        eq(purchases.merchantId, merchantId),
        eq(purchases.callerNumber, callerNumber),
        inArray(purchases.numberToCall, numbers),
        sql`${purchases.expiresAt} <= now()`,
        noCallInProgress(purchases.id),
      ),
    )
    .for('update');
  for (const p of lapsed) await endPurchase(tx, p.id, 'expired', p.callsCounted);
}

/** The status read, built once per database: building drizzle's SQL cost more than running it. */
function purchaseRead(db: Database) {
  return db
    .select(purchaseWithClock)
    .from(purchases)
    .where(and(eq(purchases.id, sql.placeholder('purchaseId')), eq(purchases.merchantId, sql.placeholder('merchantId'))))
    .prepare('get_purchase');
}
const purchaseReads = new WeakMap<Database, ReturnType<typeof purchaseRead>>();

export async function getPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView | null> {
  let read = purchaseReads.get(db);
  if (!read) purchaseReads.set(db, (read = purchaseRead(db)));
  const [row] = await read.execute({ purchaseId, merchantId });
  return row ? toPurchaseView(row) : null;
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

async function offerOfMerchant(tx: Tx, merchantId: string, offerId: string): Promise<Offer> {
  const [offer] = await tx.select().from(offers).where(and(eq(offers.id, offerId), eq(offers.merchantId, merchantId)));
  // Another merchant's offer is reported exactly like a missing one.
  if (!offer) throw new LedgerError('offer_not_found', `No offer with id ${offerId}.`);
  return offer;
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
