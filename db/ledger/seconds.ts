// Per-second purchases: crediting a call's answered seconds while it lasts and at its end.
// Each credit is one transaction holding the call's lock, then the purchase's (the order
// countCall and endCall use); elapsed time is the database's, from calls.answered_at. A call
// remembers what it has credited (calls.seconds_credited), so the periodic credits and the
// final one never count a second twice. Rules: domain/per-second.ts.
import { and, eq, sql } from 'drizzle-orm';
import { progressDue, secondsRemaining, secondsToCredit, type AcceptedOutcome, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { calls, purchaseEvents, purchases, type CallRow } from '../schema.js';
import { purchaseById, purchaseWithClock, recordEvent, releaseNumber, toPurchaseView, type Tx } from './shared.js';

export type SecondsCreditResult =
  | {
      credited: true;
      /** Seconds added by this credit (0 when none was due). */
      seconds: number;
      /** This credit reached the target: the purchase is completed. */
      completed: boolean;
      /** When not completed: seconds until a confirming credit would complete it. */
      secondsUntilCompletion: number;
      purchase: PurchaseView;
    }
  | { credited: false; reason: 'not_in_progress' | 'not_answered' | 'purchase_ended' | 'not_per_second'; purchase: PurchaseView | null };

/**
 * Credits the answered seconds of a per-second call not credited yet (the IVR calls it every
 * few seconds). `confirming`: the IVR is about to say "purchase confirmed" and hang up, so
 * the seconds of that prompt are credited ahead and the purchase completes
 * (domain/per-second.ts, CONFIRMATION_SECONDS); a confirming credit that comes too early
 * credits what is due and says how long to wait.
 */
export async function creditSeconds(db: Database, channelId: string, opts: { confirming?: boolean } = {}): Promise<SecondsCreditResult> {
  return db.transaction(async (tx) => {
    const [call] = await tx.select().from(calls).where(eq(calls.channelId, channelId)).for('update');
    if (!call || call.outcome !== 'in_progress' || call.endedAt || !call.purchaseId) {
      return { credited: false, reason: 'not_in_progress', purchase: null };
    }
    return creditIn(tx, call, { confirming: opts.confirming ?? false, atHangup: false });
  });
}

/**
 * The final credit of a per-second call that is ending (endCall, in its transaction, call
 * locked): null when the call's purchase counts calls, otherwise the call's outcome
 * (counted when it credited any second) and whether a progress event must follow once the
 * call is closed (so that the event already shows no call in progress).
 */
export async function finalSecondsCredit(tx: Tx, call: CallRow): Promise<{ outcome: AcceptedOutcome; progress: boolean; completed: PurchaseView | null } | null> {
  const result = await creditIn(tx, call, { confirming: false, atHangup: true });
  if (!result.credited && result.reason === 'not_per_second') return null;
  const [after] = await tx.select({ secondsCredited: calls.secondsCredited }).from(calls).where(eq(calls.id, call.id));
  const outcome: AcceptedOutcome = (after?.secondsCredited ?? 0) > 0 ? 'counted' : 'too_short';
  // Completion has its own event; a purchase still pending is told where it stands.
  const progress = result.purchase?.status === 'pending';
  return { outcome, progress, completed: result.credited && result.completed ? result.purchase : null };
}

async function creditIn(tx: Tx, call: CallRow, opts: { confirming: boolean; atHangup: boolean }): Promise<SecondsCreditResult> {
  const [p] = await tx
    .select({
      ...purchaseWithClock,
      elapsedSeconds: sql<number | null>`(select extract(epoch from now() - ${calls.answeredAt})::float8 from ${calls} where ${calls.id} = ${call.id})`,
    })
    .from(purchases)
    .where(eq(purchases.id, call.purchaseId!))
    .for('update', { of: purchases });
  const purchase = p!;
  if (purchase.unit !== 'second' || purchase.secondsRequired === null) return { credited: false, reason: 'not_per_second', purchase: toPurchaseView(purchase) };
  if (!call.answeredAt || purchase.elapsedSeconds === null) return { credited: false, reason: 'not_answered', purchase: toPurchaseView(purchase) };
  const remaining = secondsRemaining({ secondsRequired: purchase.secondsRequired, secondsCounted: purchase.secondsCounted });
  // As for calls: a lifetime that ran out during the call does not cancel seconds the caller
  // has paid for; a cancelled or completed purchase takes none.
  if (purchase.status !== 'pending' || remaining <= 0) return { credited: false, reason: 'purchase_ended', purchase: toPurchaseView(purchase) };

  const decision = secondsToCredit({ elapsedSeconds: purchase.elapsedSeconds, creditedByCall: call.secondsCredited, secondsRemaining: remaining, confirming: opts.confirming });
  if (decision.credit > 0) {
    const secondsCounted = purchase.secondsCounted + decision.credit;
    await tx
      .update(purchases)
      .set(
        decision.completes
          ? { secondsCounted, callsCounted: purchase.callsRequired, status: 'completed', completedAt: sql`now()`, endedAt: sql`now()` }
          : { secondsCounted },
      )
      .where(eq(purchases.id, purchase.id));
    await tx
      .update(calls)
      .set({ secondsCredited: sql`${calls.secondsCredited} + ${decision.credit}`, ...(decision.completes ? { countedAt: sql`now()` } : {}) })
      .where(eq(calls.id, call.id));
  }
  if (decision.completes) {
    await releaseNumber(tx, purchase.id);
    await recordEvent(tx, purchase.id, 'completed', call.id);
  } else if (decision.credit > 0 && !opts.atHangup && progressDue(await secondsSinceProgress(tx, purchase.id))) {
    await recordEvent(tx, purchase.id, 'seconds_credited', call.id);
  }
  return {
    credited: true,
    seconds: decision.credit,
    completed: decision.completes,
    secondsUntilCompletion: decision.secondsUntilCompletion,
    purchase: toPurchaseView(await purchaseById(tx, purchase.id)),
  };
}

/** Seconds since the purchase's last progress event (or its call's answer), null if none. */
async function secondsSinceProgress(tx: Tx, purchaseId: string): Promise<number | null> {
  const [row] = await tx
    .select({ seconds: sql<number | null>`extract(epoch from now() - max(${purchaseEvents.createdAt}))::float8` })
    .from(purchaseEvents)
    .where(and(eq(purchaseEvents.purchaseId, purchaseId), sql`${purchaseEvents.type} in ('seconds_credited', 'call_started')`));
  return row?.seconds ?? null;
}
