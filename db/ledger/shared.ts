// Pieces the ledger's modules share: the transaction type, the refusal error, the purchase
// view (with the database's clock), and the two writes every module needs.
import { and, eq, getTableColumns, isNotNull, sql, type SQL } from 'drizzle-orm';
import { callsRemaining, effectiveStatus, secondsRemaining, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { calls, numberLendings, purchaseEvents, purchases, type PurchaseEventType, type PurchaseRow } from '../schema.js';
import { builtOnce } from './built-once.js';
import { queueWebhook } from './webhooks.js';

export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

export type LedgerErrorCode =
  | 'merchant_not_found'
  | 'offer_not_found'
  | 'purchase_not_found'
  | 'number_in_use'
  | 'caller_number_required'
  | 'caller_has_pending_purchase'
  | 'purchase_not_pending'
  | 'pool_exhausted'
  | 'hold_at_maximum'
  | 'not_a_lending'
  | 'call_not_found'
  | 'call_not_creditable'
  | 'access_code_offer'
  | 'code_not_found'
  | 'code_already_used'
  | 'code_expired'
  | 'too_many_failed_redemptions'
  | 'too_many_purchases';

/** A refusal the caller of the ledger can explain to a user (mapped to 4xx/503 by the API). */
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

/** Purchase columns plus whether its lifetime is over, by the database's clock. */
export const purchaseWithClock = {
  ...getTableColumns(purchases),
  lapsed: sql<boolean>`(${purchases.expiresAt} <= now())`,
  dbNowSeconds: sql<number>`extract(epoch from now())::float8`,
};
export type PurchaseWithClock = PurchaseRow & { lapsed: boolean; dbNowSeconds: number };

export function toPurchaseView(p: PurchaseWithClock): PurchaseView {
  const view: PurchaseView = {
    id: p.id,
    offerId: p.offerId,
    mode: p.mode,
    status: effectiveStatus(p),
    reference: p.reference,
    callerNumber: p.callerNumber,
    numberToCall: p.numberToCall,
    callsRequired: p.callsRequired,
    callsCounted: p.callsCounted,
    callsRemaining: callsRemaining(p),
    createdAt: p.createdAt.toISOString(),
    expiresAt: p.expiresAt.toISOString(),
    completedAt: p.completedAt?.toISOString() ?? null,
    disputedAt: p.disputedAt?.toISOString() ?? null,
  };
  // Per-call purchases read exactly as before; per-second ones add their seconds.
  if (p.unit !== 'second' || p.secondsRequired === null) return view;
  const tally = { secondsRequired: p.secondsRequired, secondsCounted: p.secondsCounted };
  return { ...view, unit: 'second', ...tally, secondsRemaining: secondsRemaining(tally) };
}

/** A purchase that exists, with its clock; `lock` keeps it locked until the transaction ends. */
export async function purchaseById(tx: Tx, id: string, opts: { lock?: boolean } = {}): Promise<PurchaseWithClock> {
  const [row] = await (opts.lock ? purchaseOfIdLocked : purchaseOfId)(tx, { id });
  return row!;
}
// The call path's queries are built once (built-once.ts): each call runs them several times.
const purchaseOfIdQuery = (locked: boolean) =>
  builtOnce(locked ? 'purchase_of_id_locked' : 'purchase_of_id', (tx, name) => {
    const query = tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, sql.placeholder('id')));
    return (locked ? query.for('update') : query).prepare(name);
  });
const purchaseOfId = purchaseOfIdQuery(false);
const purchaseOfIdLocked = purchaseOfIdQuery(true);

/**
 * Ends a purchase otherwise than by completion, with its audit event. A lent number is
 * released at once (then rests for the offer's quarantine).
 */
export async function endPurchase(tx: Tx, id: string, status: 'expired' | 'cancelled', callsCounted: number): Promise<void> {
  await tx
    .update(purchases)
    .set({ status, endedAt: status === 'expired' ? sql`${purchases.expiresAt}` : sql`now()` })
    .where(eq(purchases.id, id));
  if (status === 'cancelled') await releaseNumber(tx, id);
  await recordEvent(tx, id, status);
}

/**
 * SQL condition: no answered-or-answering call of this purchase is under way. A purchase is
 * never written expired under a call the caller is paying for: that call may still count.
 */
export function noCallInProgress(purchaseId: unknown) {
  return sql`not exists (select 1 from ${calls} c where c.purchase_id = ${purchaseId} and c.outcome = 'in_progress' and c.ended_at is null)`;
}

/** Snapshot stored with each event: what the stream and the webhooks carry. */
export interface PurchaseEventData {
  purchase: PurchaseView;
  /** An answered call for this purchase is under way (the page shows "call in progress"). */
  callInProgress: boolean;
}

/** NOTIFY channel carrying `<purchaseId>` each time an event is recorded for that purchase. */
export const EVENTS_CHANNEL = 'sanscode_purchase_events';

/**
 * Appends a purchase event with a snapshot of the purchase, queues the matching webhook in the
 * outbox, and notifies listeners (delivered at commit). Called after the state change it
 * describes, inside the same transaction: an event exists exactly when its change does.
 */
export async function recordEvent(tx: Tx, purchaseId: string, type: PurchaseEventType, callId?: string): Promise<{ id: number; createdAt: Date }> {
  const p = await purchaseById(tx, purchaseId);
  const [{ n } = { n: 0 }] = await answeredCallsInProgress(tx, { purchaseId });
  const data: PurchaseEventData = { purchase: toPurchaseView(p), callInProgress: n > 0 };
  const [event] = await insertEvent(tx, { purchaseId, type, callsCounted: p.callsCounted, callId: callId ?? null, data });
  await queueWebhook(tx, { id: event!.id, type, createdAt: event!.createdAt, merchantId: p.merchantId, purchase: data.purchase });
  await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${purchaseId})`);
  return event!;
}

const answeredCallsInProgress = builtOnce('answered_calls_in_progress', (tx, name) =>
  tx
    .select({ n: sql<number>`count(*)::int` })
    .from(calls)
    .where(and(eq(calls.purchaseId, sql.placeholder('purchaseId')), eq(calls.outcome, 'in_progress'), isNotNull(calls.answeredAt)))
    .prepare(name),
);

const insertEvent = builtOnce('insert_event', (tx, name) =>
  tx
    .insert(purchaseEvents)
    .values({
      purchaseId: sql.placeholder('purchaseId'),
      type: sql.placeholder('type'),
      callsCounted: sql.placeholder('callsCounted'),
      callId: sql.placeholder('callId'),
      data: sql.placeholder('data'),
    })
    .returning({ id: purchaseEvents.id, createdAt: purchaseEvents.createdAt })
    .prepare(name),
);

/** Ends a live lending now; the number rests for the quarantine before it can be lent again. */
export async function releaseNumber(tx: Tx, purchaseId: string): Promise<void> {
  await tx
    .update(numberLendings)
    .set({
      releasedAt: sql`now()`,
      restUntil: sql`now() + make_interval(secs => (select quarantine_seconds from offers where id = ${numberLendings.offerId}))`,
    })
    .where(sql`${numberLendings.purchaseId} = ${purchaseId} and ${numberLendings.releasedAt} is null and ${numberLendings.holdUntil} > now()`);
}

/**
 * SQL: `values` (a JSON array of text, one parameter) as a text[] computed once per statement.
 * Compared with `column = any(...)`, PostgreSQL probes the column's index for each value
 * whatever its statistics say; `column in (select json_array_elements_text(...))` took a
 * sequential scan of purchases (8.7 ms at 12,000 rows, growing with them) while autovacuum
 * had not yet analysed a young table, the case of every new database under load.
 */
export function jsonTextArray(values: readonly string[]): SQL {
  return sql`array(select json_array_elements_text(${JSON.stringify(values)}::json))`;
}

export function isPgError(err: unknown, code: string): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}

/**
 * The rows of a raw `execute`: postgres.js answers an array, PGlite an object holding `rows`
 * (the ledger runs on both).
 */
export function rowsOf<T = Record<string, unknown>>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])) as T[];
}
