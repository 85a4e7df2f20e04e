// The operator's corrections to money state: crediting a call the IVR lost.
import { desc, eq, or } from 'drizzle-orm';
import { effectiveStatus, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { callCredits, calls, purchases, type CallRow } from '../schema.js';
import { creditCall } from './calls.js';
import { LedgerError, purchaseWithClock, type Tx } from './shared.js';

export interface CreditRequest {
  /** Who credits: "admin-api" through the HTTP API, the operator's OS user through the CLI. */
  by: string;
  reason: string;
}

export interface CallCreditView {
  callId: string;
  channelId: string;
  purchaseId: string;
  creditedBy: string;
  reason: string;
  createdAt: string;
}

export interface CreditResult {
  credit: CallCreditView;
  /** This credit was the purchase's last call: it is now completed. */
  completed: boolean;
  purchase: PurchaseView;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Credits to its purchase a call the IVR lost (outcome `lost`: the channel vanished, e.g. in a
 * crash, before the IVR could time it) once the operator has established that the carrier
 * billed it. `call` is the call's channel id (as the call record lists it) or its id.
 *
 * Only an answered call can have been billed, so only an answered lost call is eligible. The
 * minimum duration is not checked: nobody measured the call, the carrier's statement is the
 * evidence. One transaction locks the call, then the purchase (the order countCall and endCall
 * use), so concurrent credits of one call count it once; the unique call_credits.call_id
 * backs that up. The count goes through creditCall, with the usual events and webhooks.
 *
 * The purchase may have expired since: a call the buyer paid for is still credited while the
 * purchase has room, as a lifetime that runs out during a call does not cancel its credit. An
 * expired purchase whose last missing call this is becomes completed (its merchant then gets
 * purchase.completed after purchase.expired); otherwise it stays expired with one more call
 * counted. A completed or cancelled purchase is refused: the buyer already has the item, or
 * gave it up.
 */
export async function creditLostCall(db: Database, call: string, request: CreditRequest): Promise<CreditResult> {
  return db.transaction(async (tx) => {
    const row = await lockCall(tx, call);
    if (!row) throw new LedgerError('call_not_found', `No call with channel id or id ${call}.`);
    const [previous] = await tx.select().from(callCredits).where(eq(callCredits.callId, row.id));
    if (previous) {
      throw new LedgerError(
        'call_not_creditable',
        `Call ${row.channelId} was already credited on ${previous.createdAt.toISOString()} by ${previous.creditedBy}.`,
        { reason: 'already_credited' },
      );
    }
    if (row.outcome !== 'lost') {
      throw new LedgerError('call_not_creditable', `Only lost calls can be credited; call ${row.channelId} is ${row.outcome}.`, { reason: 'not_lost' });
    }
    if (!row.answeredAt || !row.purchaseId) {
      throw new LedgerError('call_not_creditable', `Call ${row.channelId} was never answered, so never billed.`, { reason: 'not_answered' });
    }
    const [purchase] = await tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, row.purchaseId)).for('update');
    // A per-second purchase counts seconds, not calls: its lost call already kept the seconds
    // credited every few seconds, and a whole call cannot stand for the rest.
    if (purchase!.unit === 'second') {
      throw new LedgerError('call_not_creditable', `Purchase ${purchase!.id} counts seconds: a lost call keeps the seconds credited while it lasted.`, {
        reason: 'per_second_purchase',
        purchaseId: purchase!.id,
      });
    }
    const status = effectiveStatus(purchase!);
    if (status === 'completed' || status === 'cancelled' || purchase!.callsCounted >= purchase!.callsRequired) {
      throw new LedgerError(
        'call_not_creditable',
        `Purchase ${purchase!.id} is ${status} with ${purchase!.callsCounted}/${purchase!.callsRequired} calls: it cannot take another call.`,
        { reason: `purchase_${status}`, purchaseId: purchase!.id },
      );
    }
    const counted = await creditCall(tx, purchase!, row.id);
    const [credit] = await tx
      .insert(callCredits)
      .values({ callId: row.id, purchaseId: purchase!.id, creditedBy: request.by, reason: request.reason })
      .returning();
    return { credit: creditView(credit!, row.channelId), ...counted };
  });
}

/** Credits made to a purchase's lost calls, newest first (the audit trail of who and why). */
export async function creditsOfPurchase(db: Database, purchaseId: string): Promise<CallCreditView[]> {
  const rows = await db
    .select({ credit: callCredits, channelId: calls.channelId })
    .from(callCredits)
    .innerJoin(calls, eq(calls.id, callCredits.callId))
    .where(eq(callCredits.purchaseId, purchaseId))
    .orderBy(desc(callCredits.createdAt));
  return rows.map((r) => creditView(r.credit, r.channelId));
}

async function lockCall(tx: Tx, call: string): Promise<CallRow | undefined> {
  const [row] = await tx
    .select()
    .from(calls)
    .where(UUID.test(call) ? or(eq(calls.channelId, call), eq(calls.id, call)) : eq(calls.channelId, call))
    .for('update');
  return row;
}

function creditView(c: typeof callCredits.$inferSelect, channelId: string): CallCreditView {
  return {
    callId: c.callId,
    channelId,
    purchaseId: c.purchaseId,
    creditedBy: c.creditedBy,
    reason: c.reason,
    createdAt: c.createdAt.toISOString(),
  };
}
