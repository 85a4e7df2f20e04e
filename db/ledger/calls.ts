// Calls as the IVR sees them: admit (decide under lock), answered, counted, ended.
import { and, desc, eq, getTableColumns, sql } from 'drizzle-orm';
import {
  answers,
  decideCall,
  effectiveStatus,
  resumeCall,
  type CallContext,
  type CallFacts,
  type CallOutcome,
  type CallPlan,
  type DialedNumber,
  type Language,
  type OfferMode,
  type PurchaseView,
} from '../../domain/index.js';
import type { Database } from '../client.js';
import { accessCodes, calls, merchants, numberLendings, numberSettings, offerNumbers, offers, purchases, type CallRow } from '../schema.js';
import { builtOnce } from './built-once.js';
import { formulaForCall, issueCode } from './codes.js';
import { finalSecondsCredit } from './seconds.js';
import { purchaseIdentity } from './identity.js';
import { endPurchase, purchaseById, purchaseWithClock, recordEvent, releaseNumber, toPurchaseView, type PurchaseWithClock, type Tx } from './shared.js';

export interface AdmitOptions {
  /** A call still in progress after this long is ignored when admitting new ones. */
  maxCallSeconds: number;
  /** Prompt language when the dialed number belongs to no offer. */
  defaultLanguage: Language;
}

/**
 * Records a new channel and decides (decideCall), under a lock on the purchase concerned,
 * whether to answer it. Locking the purchase row serialises simultaneous calls for the same
 * purchase, so the decision sees the calls already in progress. Idempotent on the channel id:
 * a channel seen twice is resumed from what was recorded for it (resumeCall).
 */
export async function admitCall(db: Database, facts: CallFacts, opts: AdmitOptions): Promise<{ admission: CallPlan; duplicate: boolean }> {
  return db.transaction(async (tx) => {
    // Round trips are most of a decision's time (the IVR waits on them before the caller hears
    // anything): the two first reads go out together (postgres.js pipelines them on the
    // transaction's connection), and what the decision needs besides the locked purchase is
    // one read after the lock.
    const [[seen], number] = await Promise.all([callOfChannel(tx, { channelId: facts.channelId }), facts.dialed ? dialedNumber(tx, facts.dialed) : null]);
    if (seen) return { admission: await resumeRecorded(tx, seen, opts.defaultLanguage), duplicate: true };

    const purchase = number && facts.dialed ? await purchaseForCall(tx, number.mode, facts.dialed, facts.caller) : null;
    const context: CallContext = { number, purchase: null };
    if (purchase) {
      // After the lock, in a statement of its own (callsInProgressAndPayee says why).
      const [{ n, merchantNameSound, offerNameSound } = { n: 0, merchantNameSound: null, offerNameSound: null }] = await callsInProgressAndPayee(tx, {
        purchaseId: purchase.id,
        maxCallSeconds: opts.maxCallSeconds,
      });
      context.purchase = {
        id: purchase.id,
        status: effectiveStatus(purchase),
        callsRequired: purchase.callsRequired,
        callsCounted: purchase.callsCounted,
        callsInProgress: n,
        minCallSeconds: purchase.minCallSeconds,
        language: purchase.language,
        unit: purchase.unit,
        secondsRequired: purchase.secondsRequired,
        secondsCounted: purchase.secondsCounted,
        ...(number?.mode === 'caller_id' && { identity: { merchantNameSound, offerNameSound } }),
      };
    }
    const admission = decideCall(facts, context, opts.defaultLanguage);
    // Write the expiry we just read, unless a call under way may still count for it.
    if (purchase?.status === 'pending' && purchase.lapsed && context.purchase?.callsInProgress === 0) {
      await endPurchase(tx, purchase.id, 'expired', purchase.callsCounted);
    }
    await insertCall(tx, {
      channelId: facts.channelId,
      asteriskId: facts.asteriskId,
      dialedNumber: facts.dialed,
      dialedRaw: facts.dialedRaw,
      callerNumber: facts.caller,
      callerRaw: facts.callerRaw,
      outcome: answers(admission) ? 'in_progress' : admission.outcome,
      purchaseId: answers(admission) ? admission.purchaseId : (purchase?.id ?? null),
    });
    return { admission, duplicate: false };
  });
}

// The decision's queries, built once (built-once.ts): the caller waits for the decision.

/** A channel's call record, as it stands or locked until the transaction ends. */
const callOfChannelQuery = (locked: boolean) =>
  builtOnce(locked ? 'call_of_channel_locked' : 'call_of_channel', (tx, name) => {
    const query = tx.select().from(calls).where(eq(calls.channelId, sql.placeholder('channelId')));
    return (locked ? query.for('update') : query).prepare(name);
  });
const callOfChannel = callOfChannelQuery(false);
const callOfChannelLocked = callOfChannelQuery(true);

/** How a number is sold (a pool number belongs to one dynamic offer; see createOffer). */
async function dialedNumber(tx: Tx, dialed: string): Promise<DialedNumber | null> {
  const [row] = await numberForSale(tx, { dialed });
  return row ?? null;
}
const numberForSale = builtOnce('number_for_sale', (tx, name) =>
  tx
    .select({
      mode: offers.mode,
      language: offers.language,
      priceAnnouncement: numberSettings.priceAnnouncement,
      holdSound: numberSettings.holdSound,
      formulaCalls: sql<number | null>`case when ${offers.mode} = 'access_code' then ${offers.callsRequired} end`,
    })
    .from(offerNumbers)
    .innerJoin(offers, eq(offers.id, offerNumbers.offerId))
    .leftJoin(numberSettings, eq(numberSettings.number, offerNumbers.number))
    .where(eq(offerNumbers.number, sql.placeholder('dialed')))
    .orderBy(desc(offers.mode)) // dynamic_number first, should both ever exist
    .limit(1)
    .prepare(name),
);

/** The purchase a call on this number is for, locked; null when there is none. */
async function purchaseForCall(tx: Tx, mode: OfferMode, dialed: string, caller: string | null): Promise<PurchaseWithClock | null> {
  switch (mode) {
    case 'dynamic_number': {
      // Whoever calls, even withheld: the live lending of the number decides.
      const [p] = await purchaseOfLentNumber(tx, { dialed });
      return p ?? null;
    }
    case 'caller_id': {
      if (!caller) return null;
      // The caller may hold pending purchases at several merchants on this number: the most
      // recent live one is paid (domain/identity.ts), and the caller hears whose it is. A row
      // that stops being live while we wait for its lock fails the re-check and the next one
      // is taken, so simultaneous calls each get the newest purchase still live.
      const [live] = await livePurchaseOfCaller(tx, { dialed, caller });
      if (live) return live;
      // None live: the latest of any state explains the refusal (expired, completed...).
      const [p] = await latestPurchaseOfCaller(tx, { dialed, caller });
      return p ?? null;
    }
    case 'access_code':
      // The caller's formula on this number, opened by their first call.
      return formulaForCall(tx, dialed, caller);
  }
}

const purchaseOfLentNumber = builtOnce('purchase_of_lent_number', (tx, name) =>
  tx
    .select(purchaseWithClock)
    .from(purchases)
    .innerJoin(numberLendings, eq(numberLendings.purchaseId, purchases.id))
    .where(
      and(
        eq(numberLendings.number, sql.placeholder('dialed')),
        sql`${numberLendings.releasedAt} is null`,
        sql`${numberLendings.lentAt} <= now()`,
        sql`${numberLendings.holdUntil} > now()`,
      ),
    )
    .for('update', { of: purchases })
    .prepare(name),
);

/** The caller's caller-ID purchases on the dialed number. */
const ofCallerOnNumber = () =>
  and(eq(purchases.mode, 'caller_id'), eq(purchases.numberToCall, sql.placeholder('dialed')), eq(purchases.callerNumber, sql.placeholder('caller')));

const livePurchaseOfCaller = builtOnce('live_purchase_of_caller', (tx, name) =>
  tx
    .select(purchaseWithClock)
    .from(purchases)
    .where(and(ofCallerOnNumber(), eq(purchases.status, 'pending'), sql`${purchases.expiresAt} > now()`))
    .orderBy(desc(purchases.createdAt), desc(purchases.id))
    .limit(1)
    .for('update')
    .prepare(name),
);

const latestPurchaseOfCaller = builtOnce('latest_purchase_of_caller', (tx, name) =>
  tx
    .select(purchaseWithClock)
    .from(purchases)
    .where(ofCallerOnNumber())
    .orderBy(desc(purchases.createdAt))
    .limit(1)
    .for('update')
    .prepare(name),
);

/**
 * The purchase's calls in progress and whom its caller pays. A statement of its own, after the
 * lock: it sees the calls of the transactions that held the lock before us (a subquery of the
 * locking statement would read its older snapshot).
 */
const callsInProgressAndPayee = builtOnce('calls_in_progress_and_payee', (tx, name) =>
  tx
    .select({
      n: sql<number>`(select count(*)::int from ${calls} where ${calls.purchaseId} = ${purchases.id} and ${calls.outcome} = 'in_progress' and ${calls.startedAt} > now() - make_interval(secs => ${sql.placeholder('maxCallSeconds')}))`,
      // Whom the caller pays, told before the answer (issue 13): the same read as purchaseIdentity.
      merchantNameSound: merchants.nameSound,
      offerNameSound: offers.nameSound,
    })
    .from(purchases)
    .leftJoin(merchants, eq(merchants.id, purchases.merchantId))
    .leftJoin(offers, eq(offers.id, purchases.offerId))
    .where(eq(purchases.id, sql.placeholder('purchaseId')))
    .prepare(name),
);

const insertCall = builtOnce('insert_call', (tx, name) =>
  tx
    .insert(calls)
    .values({
      channelId: sql.placeholder('channelId'),
      asteriskId: sql.placeholder('asteriskId'),
      dialedNumber: sql.placeholder('dialedNumber'),
      dialedRaw: sql.placeholder('dialedRaw'),
      callerNumber: sql.placeholder('callerNumber'),
      callerRaw: sql.placeholder('callerRaw'),
      outcome: sql.placeholder('outcome'),
      purchaseId: sql.placeholder('purchaseId'),
    })
    .prepare(name),
);

/** What to do with a channel already recorded (seen again after a restart). */
async function resumeRecorded(tx: Tx, call: CallRow, defaultLanguage: Language): Promise<CallPlan> {
  const purchase = call.purchaseId ? await purchaseById(tx, call.purchaseId) : null;
  // The number's language matters only to a call refused without a purchase; its hold sound
  // only to a per-second call still under way.
  const needsNumber = call.dialedNumber && (!purchase || (purchase.unit === 'second' && call.outcome === 'in_progress'));
  const number = needsNumber ? await dialedNumber(tx, call.dialedNumber!) : null;
  const plan = resumeCall(call.outcome, { purchase, numberLanguage: number?.language ?? null, holdSound: number?.holdSound ?? null }, defaultLanguage);
  // Not answered yet: the caller may not have heard whom they pay to the end; say it again.
  if (plan.action === 'answer' && !call.answeredAt && purchase?.mode === 'caller_id') plan.identity = await purchaseIdentity(tx, purchase.id);
  return plan;
}

/**
 * Notes the moment the IVR answered: billing starts here, and so does the minimum duration.
 * The purchase's page learns that a call is in progress.
 */
export async function markAnswered(db: Database, channelId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const [call] = await answerCall(tx, { channelId });
    if (call?.purchaseId) await recordEvent(tx, call.purchaseId, 'call_started', call.id);
  });
}

const answerCall = builtOnce('answer_call', (tx, name) =>
  tx
    .update(calls)
    .set({ answeredAt: sql`now()` })
    .where(and(eq(calls.channelId, sql.placeholder('channelId')), eq(calls.outcome, 'in_progress'), sql`${calls.answeredAt} is null`))
    .returning({ id: calls.id, purchaseId: calls.purchaseId })
    .prepare(name),
);

export type CountResult =
  | { counted: true; purchase: PurchaseView; completed: boolean; code?: string | undefined }
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
 * otherwise; an accepted call never answered is abandoned; `lost` when the IVR lost the
 * channel and cannot know how long it lasted; `unanswered` when Asterisk reported an answer
 * the caller never got (their CANCEL crossed it): the answer is taken back and the call is
 * abandoned. Idempotent.
 */
export async function endCall(
  db: Database,
  channelId: string,
  hangup: { cause?: number | null; causeText?: string | null; lost?: boolean; unanswered?: boolean },
): Promise<{ call: CallRow | null; count: CountResult | null; completed: PurchaseView | null }> {
  return db.transaction(async (tx) => {
    const call = await lockCall(tx, channelId);
    // Unknown or already closed: nothing changes (call is null so the caller logs nothing).
    if (!call || call.endedAt) return { call: null, count: null, completed: null };
    let count: CountResult | null = null;
    let secondsCompleted: PurchaseView | null = null;
    let outcome: CallOutcome = call.outcome;
    // A per-second call's last seconds (since its last periodic credit) are credited here.
    let secondsProgress = false;
    // Only an answer of a call still in progress can be taken back: a counted call stays counted.
    const takeBack = hangup.unanswered === true && call.outcome === 'in_progress' && call.answeredAt !== null;
    const answered = call.answeredAt !== null && !takeBack;
    if (call.outcome === 'in_progress') {
      if (hangup.lost) outcome = 'lost';
      else if (!answered) outcome = 'abandoned';
      else {
        const perSecond = await finalSecondsCredit(tx, call);
        if (perSecond) {
          outcome = perSecond.outcome;
          secondsProgress = perSecond.progress;
          secondsCompleted = perSecond.completed;
        } else {
          count = await creditIfLongEnough(tx, call);
          outcome = count.counted ? 'counted' : 'too_short';
        }
      }
    }
    const [ended] = await (takeBack ? closeCallTakingAnswerBack : closeCall)(tx, {
      id: call.id,
      outcome,
      hangupCause: hangup.cause ?? null,
      hangupCauseText: hangup.causeText ?? null,
    });
    // An answered call that ends uncounted: the page stops showing "call in progress".
    if (call.answeredAt && call.purchaseId && (outcome === 'too_short' || outcome === 'lost' || takeBack)) {
      await recordEvent(tx, call.purchaseId, 'call_ended', call.id);
    } else if (secondsProgress && call.purchaseId) {
      await recordEvent(tx, call.purchaseId, 'seconds_credited', call.id);
    }
    // The purchase this hang-up completed, if any: its last call counted or its last seconds credited.
    const completed = count?.counted && count.completed ? count.purchase : secondsCompleted;
    return { call: ended ?? null, count, completed };
  });
}

/**
 * Closes a call record. An answer taken back (takeBack in endCall) leaves neither an answer time
 * nor answered seconds. drizzle's set() is typed without placeholders: one inside sql`` is sent
 * as given, which these columns (text, integers, enums) take as they are.
 */
const closeCallQuery = (takeBack: boolean) =>
  builtOnce(takeBack ? 'close_call_taking_answer_back' : 'close_call', (tx, name) =>
    tx
      .update(calls)
      .set({
        outcome: sql`${sql.placeholder('outcome')}`,
        endedAt: sql`now()`,
        ...(takeBack ? { answeredAt: null } : {}),
        answeredSeconds: takeBack ? null : sql`case when ${calls.answeredAt} is null then null else floor(extract(epoch from now() - ${calls.answeredAt}))::int end`,
        hangupCause: sql`${sql.placeholder('hangupCause')}`,
        hangupCauseText: sql`${sql.placeholder('hangupCauseText')}`,
      })
      .where(eq(calls.id, sql.placeholder('id')))
      .returning()
      .prepare(name),
  );
const closeCall = closeCallQuery(false);
const closeCallTakingAnswerBack = closeCallQuery(true);

/** Calls of one Asterisk node that are not closed yet: what an IVR resyncs after a restart. */
export async function openCalls(db: Database, asteriskId: string | null): Promise<CallRow[]> {
  return db
    .select()
    .from(calls)
    .where(and(sql`${calls.endedAt} is null`, asteriskId ? eq(calls.asteriskId, asteriskId) : sql`${calls.asteriskId} is null`));
}

export async function getCall(db: Database, channelId: string): Promise<CallRow | null> {
  const [row] = await db.select().from(calls).where(eq(calls.channelId, channelId));
  return row ?? null;
}

async function lockCall(tx: Tx, channelId: string): Promise<CallRow | undefined> {
  const [call] = await callOfChannelLocked(tx, { channelId });
  return call;
}

async function creditIfLongEnough(tx: Tx, call: CallRow): Promise<CountResult> {
  const purchase = await purchaseById(tx, call.purchaseId!, { lock: true });
  if (!call.answeredAt) return { counted: false, reason: 'not_answered', purchase: toPurchaseView(purchase) };
  const secondsLeft = call.answeredAt.getTime() / 1000 + purchase.minCallSeconds - purchase.dbNowSeconds;
  if (secondsLeft > 0) return { counted: false, reason: 'too_early', secondsLeft, purchase: toPurchaseView(purchase) };
  // The call was admitted while the purchase was live; a lifetime that ran out during the
  // call does not cancel a credit the caller has paid for. Only a cancelled or already
  // completed purchase can no longer take it.
  if (purchase.status !== 'pending' || purchase.callsCounted >= purchase.callsRequired) {
    return { counted: false, reason: 'purchase_ended', purchase: toPurchaseView(purchase) };
  }
  return { counted: true, ...(await creditCall(tx, purchase, call.id)) };
}

/**
 * Counts a call for its purchase, locked by the caller, who has checked that the purchase can
 * take it: one more call, completion (and release of a lent number) when it was the last one
 * needed, the call marked counted, and the events with their webhooks. The purchase's stored
 * status is otherwise left as it is.
 */
export async function creditCall(tx: Tx, purchase: PurchaseWithClock, callId: string): Promise<{ completed: boolean; purchase: PurchaseView; code?: string | undefined }> {
  const callsCounted = purchase.callsCounted + 1;
  const completed = callsCounted === purchase.callsRequired;
  await (completed ? countLastCall : countCallOf)(tx, { id: purchase.id, callsCounted });
  await markCounted(tx, { callId });
  if (completed) await releaseNumber(tx, purchase.id);
  await recordEvent(tx, purchase.id, 'call_counted', callId);
  if (completed) await recordEvent(tx, purchase.id, 'completed');
  // The last call of an access-code formula issues its code, in this same transaction.
  const code = completed && purchase.mode === 'access_code' ? await issueCode(tx, purchase, callId) : undefined;
  return { completed, purchase: toPurchaseView(await purchaseById(tx, purchase.id)), code };
}

const countCallOf = builtOnce('count_call', (tx, name) =>
  tx
    .update(purchases)
    .set({ callsCounted: sql`${sql.placeholder('callsCounted')}` })
    .where(eq(purchases.id, sql.placeholder('id')))
    .prepare(name),
);
const countLastCall = builtOnce('count_last_call', (tx, name) =>
  tx
    .update(purchases)
    .set({ callsCounted: sql`${sql.placeholder('callsCounted')}`, status: 'completed', completedAt: sql`now()`, endedAt: sql`now()` })
    .where(eq(purchases.id, sql.placeholder('id')))
    .prepare(name),
);
const markCounted = builtOnce('mark_counted', (tx, name) =>
  tx
    .update(calls)
    .set({ outcome: 'counted', countedAt: sql`now()` })
    .where(eq(calls.id, sql.placeholder('callId')))
    .prepare(name),
);

export interface CallQuery {
  outcome?: CallOutcome | undefined;
  /** E.164 dialed number. */
  dialed?: string | undefined;
  purchaseId?: string | undefined;
  limit: number;
}

/** The call record, newest first: what the operator audits (lost calls, refusals...), with the code a call issued. */
export async function listCalls(db: Database, q: CallQuery): Promise<(CallRow & { issuedCode: string | null })[]> {
  return db
    .select({ ...getTableColumns(calls), issuedCode: accessCodes.code })
    .from(calls)
    .leftJoin(accessCodes, eq(accessCodes.callId, calls.id))
    .where(
      and(
        q.outcome ? eq(calls.outcome, q.outcome) : undefined,
        q.dialed ? eq(calls.dialedNumber, q.dialed) : undefined,
        q.purchaseId ? eq(calls.purchaseId, q.purchaseId) : undefined,
      ),
    )
    .orderBy(desc(calls.startedAt))
    .limit(q.limit);
}
