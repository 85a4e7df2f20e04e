// The ledger: the only module that changes merchants, offers, purchases and calls.
// Every change of money state (a call admitted, counted, a purchase completed, cancelled,
// expired) happens here in one transaction, with the row locks that make it safe when several
// IVR workers and API processes share the database. Times come from PostgreSQL's clock so that
// all processes agree on "now".
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, desc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import type { Database } from './client.js';
import {
  calls,
  merchants,
  offerNumbers,
  offers,
  purchaseEvents,
  purchases,
  type CallOutcome,
  type CallRow,
  type Merchant,
  type Offer,
  type PurchaseRow,
  type PurchaseStatus,
} from './schema.js';

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
type Language = 'fr' | 'en';

export type LedgerErrorCode =
  | 'merchant_not_found'
  | 'offer_not_found'
  | 'purchase_not_found'
  | 'offer_mode_unsupported'
  | 'caller_has_pending_purchase'
  | 'purchase_not_pending';

/** A refusal the caller of the ledger can explain to a user (mapped to 404/409 by the API). */
export class LedgerError extends Error {
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'LedgerError';
  }
}

// ---------------------------------------------------------------------------------------------
// Merchants and offers (operator provisioning)

/** API keys are 256-bit random tokens, so a plain SHA-256 is a sufficient hash at rest. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

export async function createMerchant(db: Database, name: string): Promise<{ id: string; name: string; apiKey: string }> {
  const apiKey = `sk_${randomBytes(32).toString('base64url')}`;
  const [row] = await db.insert(merchants).values({ name, apiKeyHash: hashApiKey(apiKey) }).returning();
  return { id: row!.id, name: row!.name, apiKey };
}

export async function findMerchantByApiKey(db: Database, apiKey: string): Promise<Merchant | null> {
  const [row] = await db.select().from(merchants).where(eq(merchants.apiKeyHash, hashApiKey(apiKey)));
  return row ?? null;
}

export interface NewOffer {
  merchantId: string;
  name: string;
  mode: 'caller_id' | 'dynamic_number';
  callsRequired: number;
  minCallSeconds: number;
  /** E.164 premium numbers, already normalised and de-duplicated. */
  numbers: string[];
  purchaseTtlSeconds: number;
  language: Language;
}

export interface OfferView extends Offer {
  numbers: string[];
}

export async function createOffer(db: Database, input: NewOffer): Promise<OfferView> {
  return db.transaction(async (tx) => {
    const [merchant] = await tx.select({ id: merchants.id }).from(merchants).where(eq(merchants.id, input.merchantId));
    if (!merchant) throw new LedgerError('merchant_not_found', `No merchant with id ${input.merchantId}.`);
    const { numbers, ...fields } = input;
    const [offer] = await tx.insert(offers).values(fields).returning();
    await tx.insert(offerNumbers).values(numbers.map((number) => ({ offerId: offer!.id, number })));
    return { ...offer!, numbers };
  });
}

export async function getOffer(db: Database, offerId: string): Promise<OfferView | null> {
  const [offer] = await db.select().from(offers).where(eq(offers.id, offerId));
  if (!offer) return null;
  const rows = await db
    .select({ number: offerNumbers.number })
    .from(offerNumbers)
    .where(eq(offerNumbers.offerId, offerId))
    .orderBy(asc(offerNumbers.number));
  return { ...offer, numbers: rows.map((r) => r.number) };
}

// ---------------------------------------------------------------------------------------------
// Purchases (merchant API)

export interface PurchaseView {
  id: string;
  offerId: string;
  mode: 'caller_id' | 'dynamic_number';
  status: PurchaseStatus;
  reference: string | null;
  callerNumber: string | null;
  numberToCall: string;
  callsRequired: number;
  callsCounted: number;
  callsRemaining: number;
  createdAt: string;
  expiresAt: string;
  completedAt: string | null;
}

/** Purchase columns plus whether its lifetime is over, by the database's clock. */
const purchaseWithClock = {
  ...getTableColumns(purchases),
  lapsed: sql<boolean>`(${purchases.expiresAt} <= now())`,
  dbNowSeconds: sql<number>`extract(epoch from now())::float8`,
};
type PurchaseWithClock = PurchaseRow & { lapsed: boolean; dbNowSeconds: number };

/** A pending purchase whose time is over is expired, whether or not a writer has said so yet. */
function effectiveStatus(p: PurchaseWithClock): PurchaseStatus {
  return p.status === 'pending' && p.lapsed ? 'expired' : p.status;
}

export function toPurchaseView(p: PurchaseWithClock): PurchaseView {
  return {
    id: p.id,
    offerId: p.offerId,
    mode: p.mode,
    status: effectiveStatus(p),
    reference: p.reference,
    callerNumber: p.callerNumber,
    numberToCall: p.numberToCall,
    callsRequired: p.callsRequired,
    callsCounted: p.callsCounted,
    callsRemaining: p.callsRequired - p.callsCounted,
    createdAt: p.createdAt.toISOString(),
    expiresAt: p.expiresAt.toISOString(),
    completedAt: p.completedAt?.toISOString() ?? null,
  };
}

export interface NewPurchase {
  offerId: string;
  /** E.164 buyer number (caller_id mode). */
  callerNumber: string;
  reference?: string | null | undefined;
}

/**
 * Creates a caller-ID purchase. The offer's first number on which this caller has no pending
 * purchase is the number to call. If the caller already has a pending purchase on every number
 * of the offer, the request is refused (409) rather than replacing the older purchase: that one
 * may already hold paid calls, and silently cancelling it would lose the buyer's money.
 */
export async function createPurchase(db: Database, merchantId: string, input: NewPurchase): Promise<PurchaseView> {
  try {
    return await db.transaction(async (tx) => {
      const offer = await offerOfMerchant(tx, merchantId, input.offerId);
      if (offer.mode !== 'caller_id') {
        throw new LedgerError('offer_mode_unsupported', `Offer ${offer.id} is in mode ${offer.mode}.`);
      }
      const numbers = await numbersOf(tx, offer.id);
      await expireLapsedPurchases(tx, input.callerNumber, numbers);
      const taken = await tx
        .select({ id: purchases.id, number: purchases.numberToCall, merchantId: purchases.merchantId, offerId: purchases.offerId })
        .from(purchases)
        .where(
          and(
            eq(purchases.status, 'pending'),
            eq(purchases.mode, 'caller_id'),
            eq(purchases.callerNumber, input.callerNumber),
            inArray(purchases.numberToCall, numbers),
          ),
        );
      const numberToCall = numbers.find((n) => !taken.some((t) => t.number === n));
      if (!numberToCall) throw pendingConflict(merchantId, offer.id, taken);
      const [row] = await tx
        .insert(purchases)
        .values({
          merchantId,
          offerId: offer.id,
          mode: 'caller_id',
          reference: input.reference ?? null,
          callerNumber: input.callerNumber,
          numberToCall,
          callsRequired: offer.callsRequired,
          minCallSeconds: offer.minCallSeconds,
          language: offer.language,
          expiresAt: sql`now() + make_interval(secs => ${offer.purchaseTtlSeconds})`,
        })
        .returning({ id: purchases.id });
      await tx.insert(purchaseEvents).values({ purchaseId: row!.id, type: 'created', callsCounted: 0 });
      return toPurchaseView(await purchaseById(tx, row!.id));
    });
  } catch (err) {
    // Two requests raced past the check above: the unique index let only one in.
    if (isUniqueViolation(err)) {
      throw new LedgerError('caller_has_pending_purchase', 'This caller already has a pending purchase on this number.');
    }
    throw err;
  }
}

function pendingConflict(
  merchantId: string,
  offerId: string,
  taken: { id: string; merchantId: string; offerId: string }[],
): LedgerError {
  // Point the merchant to its own pending purchase so it can resume it; never reveal another
  // merchant's purchase.
  const own = taken.find((t) => t.merchantId === merchantId && t.offerId === offerId);
  return new LedgerError(
    'caller_has_pending_purchase',
    own
      ? 'This caller already has a pending purchase for this offer: resume it, or cancel it first.'
      : 'This caller already has a pending purchase on the number(s) of this offer; retry once it ends.',
    own ? { pendingPurchaseId: own.id } : {},
  );
}

export async function getPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView | null> {
  const [row] = await db
    .select(purchaseWithClock)
    .from(purchases)
    .where(and(eq(purchases.id, purchaseId), eq(purchases.merchantId, merchantId)));
  return row ? toPurchaseView(row) : null;
}

export async function cancelPurchase(db: Database, merchantId: string, purchaseId: string): Promise<PurchaseView> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select(purchaseWithClock)
      .from(purchases)
      .where(and(eq(purchases.id, purchaseId), eq(purchases.merchantId, merchantId)))
      .for('update');
    if (!row) throw new LedgerError('purchase_not_found', `No purchase with id ${purchaseId}.`);
    const status = effectiveStatus(row);
    if (status !== 'pending') {
      throw new LedgerError('purchase_not_pending', `Purchase ${purchaseId} is ${status} and cannot be cancelled.`);
    }
    await endPurchase(tx, row.id, 'cancelled', row.callsCounted);
    return toPurchaseView(await purchaseById(tx, row.id));
  });
}

// ---------------------------------------------------------------------------------------------
// Calls (IVR)

/** What the IVR knows about a new channel, numbers already normalised (null: unusable). */
export interface CallFacts {
  channelId: string;
  asteriskId: string | null;
  dialedRaw: string;
  dialed: string | null;
  callerRaw: string;
  caller: string | null;
}

/** The ledger state a call decision needs, read under lock. */
export interface LedgerView {
  /** Languages of the offers on the dialed number; empty when the number belongs to no offer. */
  numberLanguages: Language[];
  /** The caller's latest caller-ID purchase on the dialed number, if any. */
  purchase: null | {
    id: string;
    status: PurchaseStatus;
    callsRequired: number;
    callsCounted: number;
    /** Answered calls not yet over: they may still complete the purchase. */
    callsInProgress: number;
    minCallSeconds: number;
    language: Language;
  };
}

/** What the call decision returns; `answer` is the only one that lets the call be billed. */
export type Admission =
  | { action: 'answer'; purchaseId: string; language: Language; minCallSeconds: number; callsRemaining: number }
  | { action: 'reject'; outcome: Exclude<CallOutcome, 'in_progress' | 'counted' | 'too_short' | 'abandoned' | 'lost'>; language: Language };

/**
 * Records a new channel and decides, under a lock on the caller's purchase, whether to answer
 * it. Locking the purchase row serialises simultaneous calls for the same purchase, so the
 * decision sees the calls already in progress. Idempotent on the channel id: a channel seen
 * twice gets its first decision back.
 */
export async function admitCall(
  db: Database,
  facts: CallFacts,
  decide: (facts: CallFacts, view: LedgerView) => Admission,
  opts: { maxCallSeconds: number },
): Promise<{ admission: Admission; duplicate: boolean }> {
  return db.transaction(async (tx) => {
    const [seen] = await tx.select().from(calls).where(eq(calls.channelId, facts.channelId));
    if (seen) return { admission: await admissionOf(tx, seen), duplicate: true };

    const numberLanguages = facts.dialed
      ? (
          await tx
            .selectDistinct({ language: offers.language })
            .from(offerNumbers)
            .innerJoin(offers, eq(offers.id, offerNumbers.offerId))
            .where(eq(offerNumbers.number, facts.dialed))
        ).map((r) => r.language)
      : [];
    let view: LedgerView = { numberLanguages, purchase: null };
    let lapsedPending: PurchaseWithClock | null = null;
    if (facts.dialed && facts.caller && numberLanguages.length > 0) {
      const [p] = await tx
        .select(purchaseWithClock)
        .from(purchases)
        .where(
          and(
            eq(purchases.mode, 'caller_id'),
            eq(purchases.numberToCall, facts.dialed),
            eq(purchases.callerNumber, facts.caller),
          ),
        )
        .orderBy(desc(purchases.createdAt))
        .limit(1)
        .for('update');
      if (p) {
        if (p.status === 'pending' && p.lapsed) lapsedPending = p;
        const [{ n } = { n: 0 }] = await tx
          .select({ n: sql<number>`count(*)::int` })
          .from(calls)
          .where(
            and(
              eq(calls.purchaseId, p.id),
              eq(calls.outcome, 'in_progress'),
              sql`${calls.startedAt} > now() - make_interval(secs => ${opts.maxCallSeconds})`,
            ),
          );
        view = {
          numberLanguages,
          purchase: {
            id: p.id,
            status: effectiveStatus(p),
            callsRequired: p.callsRequired,
            callsCounted: p.callsCounted,
            callsInProgress: n,
            minCallSeconds: p.minCallSeconds,
            language: p.language,
          },
        };
      }
    }
    const admission = decide(facts, view);
    if (lapsedPending) await endPurchase(tx, lapsedPending.id, 'expired', lapsedPending.callsCounted);
    await tx.insert(calls).values({
      channelId: facts.channelId,
      asteriskId: facts.asteriskId,
      dialedNumber: facts.dialed,
      dialedRaw: facts.dialedRaw,
      callerNumber: facts.caller,
      callerRaw: facts.callerRaw,
      outcome: admission.action === 'answer' ? 'in_progress' : admission.outcome,
      purchaseId: admission.action === 'answer' ? admission.purchaseId : (view.purchase?.id ?? null),
    });
    return { admission, duplicate: false };
  });
}

/** Rebuilds the decision recorded for a channel (used when a channel is seen again after a restart). */
async function admissionOf(tx: Tx, call: CallRow): Promise<Admission> {
  if (call.outcome !== 'in_progress' || !call.purchaseId) {
    const [p] = call.purchaseId ? await tx.select().from(purchases).where(eq(purchases.id, call.purchaseId)) : [];
    const outcome = call.outcome === 'in_progress' ? 'failed' : call.outcome;
    return { action: 'reject', outcome: outcome as Extract<Admission, { action: 'reject' }>['outcome'], language: p?.language ?? 'fr' };
  }
  const p = await purchaseById(tx, call.purchaseId);
  return {
    action: 'answer',
    purchaseId: p.id,
    language: p.language,
    minCallSeconds: p.minCallSeconds,
    callsRemaining: p.callsRequired - p.callsCounted,
  };
}

/** Notes the moment the IVR answered: billing starts here, and so does the minimum duration. */
export async function markAnswered(db: Database, channelId: string): Promise<void> {
  await db
    .update(calls)
    .set({ answeredAt: sql`now()` })
    .where(and(eq(calls.channelId, channelId), eq(calls.outcome, 'in_progress'), sql`${calls.answeredAt} is null`));
}

export type CountResult =
  | { counted: true; purchase: PurchaseView; completed: boolean }
  | { counted: false; reason: 'not_in_progress' | 'not_answered' | 'purchase_ended'; purchase: PurchaseView | null }
  | { counted: false; reason: 'too_early'; secondsLeft: number; purchase: PurchaseView };

/**
 * Credits an answered call that has lasted its purchase's minimum. The purchase completes
 * exactly once: the row lock orders concurrent counts and the last one flips the status.
 */
export async function countCall(db: Database, channelId: string): Promise<CountResult> {
  return db.transaction(async (tx) => {
    const call = await lockCall(tx, channelId);
    if (!call || call.outcome !== 'in_progress' || !call.purchaseId) {
      return { counted: false, reason: 'not_in_progress', purchase: null };
    }
    return creditIfLongEnough(tx, call);
  });
}

/**
 * Closes a channel's call record. An answered call still in progress is counted if it lasted
 * the minimum (the hang-up can beat the IVR's timer by a few milliseconds), too_short
 * otherwise; an accepted call never answered is abandoned. Idempotent.
 */
export async function endCall(
  db: Database,
  channelId: string,
  hangup: { cause?: number | null; causeText?: string | null; lost?: boolean },
): Promise<{ call: CallRow | null; count: CountResult | null }> {
  return db.transaction(async (tx) => {
    const call = await lockCall(tx, channelId);
    // Unknown or already closed: nothing changes (call is null so the caller logs nothing).
    if (!call || call.endedAt) return { call: null, count: null };
    let count: CountResult | null = null;
    let outcome: CallOutcome = call.outcome;
    if (call.outcome === 'in_progress') {
      if (hangup.lost) outcome = 'lost';
      else if (!call.answeredAt) outcome = 'abandoned';
      else {
        count = await creditIfLongEnough(tx, call);
        outcome = count.counted ? 'counted' : 'too_short';
      }
    }
    const [ended] = await tx
      .update(calls)
      .set({
        outcome,
        endedAt: sql`now()`,
        answeredSeconds: sql`case when ${calls.answeredAt} is null then null else floor(extract(epoch from now() - ${calls.answeredAt}))::int end`,
        hangupCause: hangup.cause ?? null,
        hangupCauseText: hangup.causeText ?? null,
      })
      .where(eq(calls.id, call.id))
      .returning();
    return { call: ended ?? null, count };
  });
}

/** Calls of one Asterisk node that are not closed yet: what an IVR resyncs after a restart. */
export async function openCalls(db: Database, asteriskId: string | null): Promise<CallRow[]> {
  return db
    .select()
    .from(calls)
    .where(
      and(
        sql`${calls.endedAt} is null`,
        asteriskId ? eq(calls.asteriskId, asteriskId) : sql`${calls.asteriskId} is null`,
      ),
    );
}

export async function getCall(db: Database, channelId: string): Promise<CallRow | null> {
  const [row] = await db.select().from(calls).where(eq(calls.channelId, channelId));
  return row ?? null;
}

async function lockCall(tx: Tx, channelId: string): Promise<CallRow | undefined> {
  const [call] = await tx.select().from(calls).where(eq(calls.channelId, channelId)).for('update');
  return call;
}

async function creditIfLongEnough(tx: Tx, call: CallRow): Promise<CountResult> {
  const [p] = await tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, call.purchaseId!)).for('update');
  const purchase = p!;
  if (!call.answeredAt) return { counted: false, reason: 'not_answered', purchase: toPurchaseView(purchase) };
  const left = call.answeredAt.getTime() / 1000 + purchase.minCallSeconds - purchase.dbNowSeconds;
  if (left > 0) return { counted: false, reason: 'too_early', secondsLeft: left, purchase: toPurchaseView(purchase) };
  // The call was admitted while the purchase was live; a lifetime that ran out during the
  // call does not cancel a credit the caller has paid for. Only a cancelled or already
  // completed purchase can no longer take it.
  if (purchase.status !== 'pending' || purchase.callsCounted >= purchase.callsRequired) {
    return { counted: false, reason: 'purchase_ended', purchase: toPurchaseView(purchase) };
  }
  const callsCounted = purchase.callsCounted + 1;
  const completed = callsCounted === purchase.callsRequired;
  await tx
    .update(purchases)
    .set(
      completed
        ? { callsCounted, status: 'completed', completedAt: sql`now()`, endedAt: sql`now()` }
        : { callsCounted },
    )
    .where(eq(purchases.id, purchase.id));
  await tx.update(calls).set({ outcome: 'counted', countedAt: sql`now()` }).where(eq(calls.id, call.id));
  await tx.insert(purchaseEvents).values({ purchaseId: purchase.id, type: 'call_counted', callsCounted, callId: call.id });
  if (completed) await tx.insert(purchaseEvents).values({ purchaseId: purchase.id, type: 'completed', callsCounted });
  return { counted: true, completed, purchase: toPurchaseView(await purchaseById(tx, purchase.id)) };
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

async function offerOfMerchant(tx: Tx, merchantId: string, offerId: string): Promise<Offer> {
  const [offer] = await tx.select().from(offers).where(and(eq(offers.id, offerId), eq(offers.merchantId, merchantId)));
  // Another merchant's offer is reported exactly like a missing one.
  if (!offer) throw new LedgerError('offer_not_found', `No offer with id ${offerId}.`);
  return offer;
}

async function numbersOf(tx: Tx, offerId: string): Promise<string[]> {
  const rows = await tx
    .select({ number: offerNumbers.number })
    .from(offerNumbers)
    .where(eq(offerNumbers.offerId, offerId))
    .orderBy(asc(offerNumbers.number));
  return rows.map((r) => r.number);
}

async function purchaseById(tx: Tx, id: string): Promise<PurchaseWithClock> {
  const [row] = await tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, id));
  return row!;
}

/** Writes the expiry of this caller's lapsed pending purchases so the unique index frees up. */
async function expireLapsedPurchases(tx: Tx, callerNumber: string, numbers: string[]): Promise<void> {
  const lapsed = await tx
    .select({ id: purchases.id, callsCounted: purchases.callsCounted })
    .from(purchases)
    .where(
      and(
        eq(purchases.status, 'pending'),
        eq(purchases.callerNumber, callerNumber),
        inArray(purchases.numberToCall, numbers),
        sql`${purchases.expiresAt} <= now()`,
      ),
    )
    .for('update');
  for (const p of lapsed) await endPurchase(tx, p.id, 'expired', p.callsCounted);
}

async function endPurchase(tx: Tx, id: string, status: 'expired' | 'cancelled', callsCounted: number): Promise<void> {
  await tx
    .update(purchases)
    .set({ status, endedAt: status === 'expired' ? sql`${purchases.expiresAt}` : sql`now()` })
    .where(eq(purchases.id, id));
  await tx.insert(purchaseEvents).values({ purchaseId: id, type: status, callsCounted });
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}
