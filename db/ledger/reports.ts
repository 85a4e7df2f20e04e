// Operator reads over a period: the revenue report and the calls a carrier statement is
// reconciled against (the matching itself is domain/reconciliation.ts).
import { and, eq, gte, lte, or, sql } from 'drizzle-orm';
import type { MerchantRef, RecordedCall } from '../../domain/reconciliation.js';
import type { Database } from '../client.js';
import { calls, merchants, offerNumbers, offers, purchases } from '../schema.js';
import { rowsOf } from './shared.js';

export interface Period {
  from: Date;
  /** Exclusive. */
  to: Date;
}

export interface ReportFigures {
  calls: number;
  answeredCalls: number;
  countedCalls: number;
  answeredSeconds: number;
  completedPurchases: number;
}

export interface ReportRow extends ReportFigures {
  /** Null for calls on a number no single offer explains (e.g. a number shared by offers, refused without a purchase). */
  merchantId: string | null;
  merchantName: string | null;
  offerId: string | null;
  offerName: string | null;
  number: string;
}

export interface RevenueReport {
  from: string;
  to: string;
  /** Per merchant, offer and number, sorted by merchant, offer, number. */
  rows: ReportRow[];
  perMerchant: (ReportFigures & { merchantId: string | null; merchantName: string | null })[];
  total: ReportFigures;
}

/**
 * Calls (started in the period), answered and counted calls, answered seconds, and purchases
 * completed in the period, per merchant, offer and number. A call is the offer's of its
 * purchase; a call refused without a purchase is the offer's of its number when one offer
 * alone uses it.
 */
export async function revenueReport(db: Database, period: Period): Promise<RevenueReport> {
  const result = await db.execute(sql`
    with sole_offer as (
      select number, (array_agg(offer_id))[1] as offer_id from ${offerNumbers} group by number having count(*) = 1
    ), figures as (
      select coalesce(p.offer_id, so.offer_id) as offer_id,
             coalesce(c.dialed_number, c.dialed_raw) as number,
             1 as calls,
             (c.answered_at is not null)::int as answered_calls,
             (c.outcome = 'counted')::int as counted_calls,
             case when c.answered_at is null then 0 else coalesce(c.answered_seconds, 0) end as answered_seconds,
             0 as completed_purchases
        from ${calls} c
        left join ${purchases} p on p.id = c.purchase_id
        left join sole_offer so on c.purchase_id is null and so.number = c.dialed_number
       where c.started_at >= ${period.from.toISOString()}::timestamptz and c.started_at < ${period.to.toISOString()}::timestamptz
      union all
      select offer_id, number_to_call, 0, 0, 0, 0, 1
        from ${purchases}
       where completed_at >= ${period.from.toISOString()}::timestamptz and completed_at < ${period.to.toISOString()}::timestamptz
    )
    select m.id as merchant_id, m.name as merchant_name, o.id as offer_id, o.name as offer_name, f.number,
           sum(f.calls)::int as calls, sum(f.answered_calls)::int as answered_calls, sum(f.counted_calls)::int as counted_calls,
           sum(f.answered_seconds)::int as answered_seconds, sum(f.completed_purchases)::int as completed_purchases
      from figures f
      left join ${offers} o on o.id = f.offer_id
      left join ${merchants} m on m.id = o.merchant_id
     group by m.id, m.name, o.id, o.name, f.number
     order by m.name nulls last, m.id, o.name nulls last, o.id, f.number`);
  const rows = rowsOf<Record<string, unknown>>(result).map(
    (r): ReportRow => ({
      merchantId: r.merchant_id as string | null,
      merchantName: r.merchant_name as string | null,
      offerId: r.offer_id as string | null,
      offerName: r.offer_name as string | null,
      number: r.number as string,
      calls: r.calls as number,
      answeredCalls: r.answered_calls as number,
      countedCalls: r.counted_calls as number,
      answeredSeconds: r.answered_seconds as number,
      completedPurchases: r.completed_purchases as number,
    }),
  );
  const perMerchant: RevenueReport['perMerchant'] = [];
  for (const r of rows) {
    let m = perMerchant.find((x) => x.merchantId === r.merchantId);
    if (!m) perMerchant.push((m = { merchantId: r.merchantId, merchantName: r.merchantName, ...noFigures() }));
    addFigures(m, r);
  }
  const total = noFigures();
  for (const r of rows) addFigures(total, r);
  return { from: period.from.toISOString(), to: period.to.toISOString(), rows, perMerchant, total };
}

/**
 * Calls started or answered in the period, with the merchant of their purchase (or of their
 * number, when one merchant alone uses it): what a carrier statement is matched against.
 */
export async function callsForReconciliation(db: Database, period: Period): Promise<RecordedCall[]> {
  const owners = await numberMerchants(db);
  const rows = await db
    .select({
      id: calls.id,
      channelId: calls.channelId,
      startedAt: calls.startedAt,
      answeredAt: calls.answeredAt,
      caller: calls.callerNumber,
      dialed: calls.dialedNumber,
      outcome: calls.outcome,
      answeredSeconds: calls.answeredSeconds,
      merchantId: merchants.id,
      merchantName: merchants.name,
    })
    .from(calls)
    .leftJoin(purchases, eq(purchases.id, calls.purchaseId))
    .leftJoin(merchants, eq(merchants.id, purchases.merchantId))
    .where(
      or(
        and(gte(calls.startedAt, period.from), lte(calls.startedAt, period.to)),
        and(gte(calls.answeredAt, period.from), lte(calls.answeredAt, period.to)),
      ),
    )
    .orderBy(calls.startedAt);
  return rows.map(({ merchantId, merchantName, ...c }) => ({
    ...c,
    merchant: merchantId && merchantName !== null ? { id: merchantId, name: merchantName } : (c.dialed ? owners.get(c.dialed) : undefined) ?? null,
  }));
}

/** The merchant of each number that one merchant alone sells on. */
export async function numberMerchants(db: Database): Promise<Map<string, MerchantRef>> {
  const rows = await db
    .select({ number: offerNumbers.number, id: sql<string>`(array_agg(${merchants.id}))[1]`, name: sql<string>`(array_agg(${merchants.name}))[1]` })
    .from(offerNumbers)
    .innerJoin(offers, eq(offers.id, offerNumbers.offerId))
    .innerJoin(merchants, eq(merchants.id, offers.merchantId))
    .groupBy(offerNumbers.number)
    .having(sql`count(distinct ${merchants.id}) = 1`);
  return new Map(rows.map((r) => [r.number, { id: r.id, name: r.name }]));
}

function noFigures(): ReportFigures {
  return { calls: 0, answeredCalls: 0, countedCalls: 0, answeredSeconds: 0, completedPurchases: 0 };
}

function addFigures(into: ReportFigures, r: ReportFigures): void {
  into.calls += r.calls;
  into.answeredCalls += r.answeredCalls;
  into.countedCalls += r.countedCalls;
  into.answeredSeconds += r.answeredSeconds;
  into.completedPurchases += r.completedPurchases;
}
