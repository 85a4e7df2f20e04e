// Several purchase creations written together, in one transaction (batch-queue.ts says when;
// purchases.ts sets its queue).
// Each gets the answer it would have had alone, arriving in the batch's order: the creations
// before it in the batch count in its limits and hold their numbers, exactly as if they had
// been committed just before it (test/integration/creation-batch.test.ts compares the two). A
// creation handed back to run alone is answered as if it had arrived just after the batch.
//
// The transaction, whatever the batch's size:
// 1. the limits' advisory locks of every creation, in one global order (identity.ts);
// 2. the offers, their numbers and the clock;
// 3. the limits' counts and the callers' pending purchases at their merchants (a statement
//    after the locks: its snapshot sees whatever the locks' previous holders committed);
// 4. the purchases, their `created` events and the NOTIFYs, in one statement.
// The rules are those of a lone creation (domain: creationAllowed, numberForCaller). What needs
// statements of its own goes back to the queue to run alone: a dynamic number's lending, and a
// caller's lapsed purchase to write expired first.
import { getTableColumns, sql } from 'drizzle-orm';
import { purchaseLifetimeSeconds, type PurchaseLimits, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { offers, purchaseEvents, purchases, type Offer } from '../schema.js';
import { builtOnce } from './built-once.js';
import type { BatchOutcome } from './batch-queue.js';
import { creationAgesOfMany, refuseBeyondLimits, takeCreationLimitLocks } from './identity.js';
import { newPurchaseRow, numberOrRefusal, offerNumbersJson, type CreationRequest } from './new-purchase.js';
import { EVENTS_CHANNEL, jsonTextArray, LedgerError, noCallInProgress, rowsOf, toPurchaseView, type PurchaseEventData, type PurchaseWithClock, type Tx } from './shared.js';
import { queueWebhook } from './webhooks.js';

/** Writes `reqs` in one transaction: one outcome per request, in order. Throws if the transaction fails (nothing written). */
export function createTogether(db: Database, reqs: CreationRequest[]): Promise<BatchOutcome<PurchaseView>[]> {
  return db.transaction((tx) => createTogetherIn(tx, reqs));
}

/** A pending purchase of one of the batch's callers at the merchant they buy from. */
interface PendingRow {
  merchantId: string;
  callerNumber: string;
  id: string;
  number: string;
  offerId: string;
  mode: string;
  /** Its time is over and no call is paying for it: a lone creation writes it expired first. */
  lapsed: boolean;
}

async function createTogetherIn(tx: Tx, reqs: CreationRequest[]): Promise<BatchOutcome<PurchaseView>[]> {
  // The queue batches only creations with the same limits.
  const limits = reqs[0]!.limits;
  if (limits) await takeCreationLimitLocks(tx, reqs.map((r) => ({ callerNumber: r.input.callerNumber ?? null, clientIpHash: r.ipHash })));
  const found = await offersOfIds(tx, { offerIds: JSON.stringify([...new Set(reqs.map((r) => r.input.offerId))]) });
  const offerOf = new Map(found.map(({ numbers, now, ...offer }) => [offer.id, { offer, numbers }]));
  const now = found[0]?.now;

  const outcomes: (BatchOutcome<PurchaseView> | { offer: Offer; numbers: string[] })[] = reqs.map((r) => {
    const o = offerOf.get(r.input.offerId);
    // Another merchant's offer is reported exactly like a missing one.
    if (!o || o.offer.merchantId !== r.merchantId) return { error: new LedgerError('offer_not_found', `No offer with id ${r.input.offerId}.`) };
    if (o.offer.mode === 'access_code') {
      return { error: new LedgerError('access_code_offer', 'This offer sells access codes: callers pay by calling its number, no purchase is created first.') };
    }
    if (o.offer.mode === 'dynamic_number') return { alone: true };
    return o;
  });

  const candidates = reqs.flatMap((r, i) => {
    const o = outcomes[i]!;
    return 'offer' in o ? [{ r, i, ...o, callerNumber: r.input.callerNumber ?? null }] : [];
  });
  if (candidates.length === 0) return outcomes as BatchOutcome<PurchaseView>[];
  const { ages, pending } = await readBeforeCreations(tx, candidates, limits);

  // In the batch's order, each as if the ones accepted before it were committed.
  const accepted: { i: number; row: PurchaseWithClock; lifetimeSeconds: number }[] = [];
  for (const c of candidates) {
    const before = accepted.map((a) => a.row);
    try {
      if (limits) {
        const zeros = (same: (p: PurchaseWithClock) => boolean) => before.filter(same).map(() => 0);
        refuseBeyondLimits(
          {
            byNumber: c.callerNumber ? [...(ages.byNumber[c.callerNumber] ?? []), ...zeros((p) => p.callerNumber === c.callerNumber)] : null,
            byAddress: c.r.ipHash ? [...(ages.byAddress[c.r.ipHash] ?? []), ...zeros((p) => p.clientIpHash === c.r.ipHash)] : null,
          },
          limits,
        );
      }
      if (!c.callerNumber) throw new LedgerError('caller_number_required', 'This offer identifies the buyer by caller ID: callerNumber is required.');
      const mine = pending.filter((p) => p.merchantId === c.r.merchantId && p.callerNumber === c.callerNumber && c.numbers.includes(p.number));
      if (mine.some((p) => p.lapsed)) {
        outcomes[c.i] = { alone: true };
        continue;
      }
      const held = [
        ...mine.filter((p) => p.mode === 'caller_id').map((p) => ({ purchaseId: p.id, offerId: p.offerId, number: p.number })),
        ...before
          .filter((p) => p.merchantId === c.r.merchantId && p.callerNumber === c.callerNumber)
          .map((p) => ({ purchaseId: p.id, offerId: p.offerId, number: p.numberToCall })),
      ];
      const numberToCall = numberOrRefusal(c.offer.id, c.numbers, held);
      const row = newPurchaseRow({ merchantId: c.r.merchantId, offer: c.offer, reference: c.r.input.reference ?? null, callerNumber: c.callerNumber, ipHash: c.r.ipHash, numberToCall, now: now! });
      accepted.push({ i: c.i, row, lifetimeSeconds: purchaseLifetimeSeconds(c.offer) });
      outcomes[c.i] = { value: toPurchaseView(row) };
    } catch (err) {
      if (!(err instanceof LedgerError)) throw err;
      outcomes[c.i] = { error: err };
    }
  }
  if (accepted.length > 0) await insertCreated(tx, accepted.map((a) => ({ ...a, view: (outcomes[a.i] as { value: PurchaseView }).value })));
  return outcomes as BatchOutcome<PurchaseView>[];
}

/** Step 2: the offers of the batch, their numbers and the clock, built once (built-once.ts). */
const offersOfIds = builtOnce('offers_for_creations', (tx, name) =>
  tx
    .select({ ...getTableColumns(offers), numbers: offerNumbersJson, now: sql<Date>`now()`.mapWith(purchases.createdAt) })
    .from(offers)
    .where(sql`${offers.id} = any(array(select value::uuid from json_array_elements_text(${sql.placeholder('offerIds')}::json)))`)
    .prepare(name),
);

/**
 * Step 3, one statement: the ages in the window per phone number and per buyer address (with
 * limits), and the pending purchases of each candidate's caller at that candidate's merchant
 * (only that merchant's: as for a lone creation, another merchant's are never read).
 */
async function readBeforeCreations(
  tx: Tx,
  candidates: { r: CreationRequest; callerNumber: string | null }[],
  limits: PurchaseLimits | undefined,
): Promise<{ ages: { byNumber: Record<string, number[]>; byAddress: Record<string, number[]> }; pending: PendingRow[] }> {
  const unique = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => x !== null))];
  const pairs = [...new Map(candidates.flatMap((c) => (c.callerNumber ? [[`${c.r.merchantId} ${c.callerNumber}`, { merchantId: c.r.merchantId, callerNumber: c.callerNumber }] as const] : []))).values()];
  const ages = limits
    ? creationAgesOfMany(unique(candidates.map((c) => c.callerNumber)), unique(candidates.map((c) => c.r.ipHash)), limits)
    : { byNumber: sql`'{}'::json`, byAddress: sql`'{}'::json` };
  const [row] = rowsOf<{ by_number: Record<string, number[]>; by_address: Record<string, number[]>; pending: PendingRow[] }>(
    await tx.execute(sql`
      select ${ages.byNumber} as by_number, ${ages.byAddress} as by_address,
             (select coalesce(json_agg(json_build_object(
                       'merchantId', p.merchant_id, 'callerNumber', p.caller_number, 'id', p.id, 'number', p.number_to_call,
                       'offerId', p.offer_id, 'mode', p.mode, 'lapsed', p.expires_at <= now() and ${noCallInProgress(sql`p.id`)})), '[]'::json)
                from ${purchases} p
               where p.caller_number = any(${jsonTextArray(pairs.map((w) => w.callerNumber))})
                 and p.merchant_id::text || ' ' || p.caller_number = any(${jsonTextArray(pairs.map((w) => `${w.merchantId} ${w.callerNumber}`))})
                 and p.status = 'pending') as pending`),
  );
  return { ages: { byNumber: row!.by_number, byAddress: row!.by_address }, pending: row!.pending };
}

/**
 * Step 4, one statement: the purchases, their `created` events (each with the snapshot a lone
 * creation stores) and a NOTIFY each. The clock is the transaction's now(), as in newPurchaseRow.
 */
async function insertCreated(tx: Tx, created: { row: PurchaseWithClock; view: PurchaseView; lifetimeSeconds: number }[]): Promise<void> {
  const rows = created.map(({ row, view, lifetimeSeconds }) => ({
    id: row.id,
    merchant_id: row.merchantId,
    offer_id: row.offerId,
    mode: row.mode,
    reference: row.reference,
    caller_number: row.callerNumber,
    client_ip_hash: row.clientIpHash,
    number_to_call: row.numberToCall,
    calls_required: row.callsRequired,
    min_call_seconds: row.minCallSeconds,
    unit: row.unit,
    seconds_required: row.secondsRequired,
    language: row.language,
    lifetime_seconds: lifetimeSeconds,
    // No call can be in progress on a purchase that does not exist yet.
    data: { purchase: view, callInProgress: false } satisfies PurchaseEventData,
  }));
  const written = rowsOf<{ event_id: number | string; purchase_id: string }>(
    await tx.execute(sql`
      with r as (
        select * from json_to_recordset(${JSON.stringify(rows)}::json) as r(
          id uuid, merchant_id uuid, offer_id uuid, mode text, reference text, caller_number text, client_ip_hash text,
          number_to_call text, calls_required int, min_call_seconds int, unit text, seconds_required int, language text,
          lifetime_seconds int, data jsonb)
      ), p as (
        insert into ${purchases} (id, merchant_id, offer_id, mode, reference, caller_number, client_ip_hash, number_to_call,
                                  calls_required, min_call_seconds, unit, seconds_required, language, created_at, expires_at)
        select id, merchant_id, offer_id, mode, reference, caller_number, client_ip_hash, number_to_call,
               calls_required, min_call_seconds, unit, seconds_required, language, now(), now() + make_interval(secs => lifetime_seconds)
          from r
        returning id
      ), e as (
        insert into ${purchaseEvents} (purchase_id, type, calls_counted, call_id, data, created_at)
        select r.id, 'created', 0, null, r.data, now() from r join p on p.id = r.id
        returning id, purchase_id
      )
      select e.id as event_id, e.purchase_id, pg_notify(${EVENTS_CHANNEL}, e.purchase_id::text) from e`),
  );
  // Anything but one event per purchase would be a bug: throwing rolls the batch back, and its
  // creations run alone.
  if (written.length !== created.length) throw new Error(`created ${created.length} purchases but wrote ${written.length} events`);
  const eventOf = new Map(written.map((w) => [w.purchase_id, Number(w.event_id)]));
  // Merchants are not told of a creation (domain/webhook-event.ts); should they ever be, the
  // delivery is queued like any event's.
  for (const { row, view } of created) {
    await queueWebhook(tx, { id: eventOf.get(row.id)!, type: 'created', createdAt: row.createdAt, merchantId: row.merchantId, purchase: view });
  }
}
