// The figures operators watch that live in the database, read at metrics scrape time
// (core/metrics.ts caches them): cheap aggregate reads, no row lock, no change.
import { sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { numberLendings, offerNumbers, offers, webhookDeliveries } from '../schema.js';
import { rowsOf } from './shared.js';

export interface PoolFigures {
  offerId: string;
  free: number;
  lent: number;
  resting: number;
}

/** Each dynamic-number offer's numbers by state, as poolStatus would tell them one offer at a time. */
export async function poolFigures(db: Database): Promise<PoolFigures[]> {
  const rows = rowsOf<{ offer_id: string; free: number; lent: number; resting: number }>(
    await db.execute(sql`
      select n.offer_id,
             count(*) filter (where l.live is null)::int as free,
             count(*) filter (where l.live)::int as lent,
             count(*) filter (where not l.live)::int as resting
        from ${offerNumbers} n
        join ${offers} o on o.id = n.offer_id and o.mode = 'dynamic_number'
        left join lateral (
          select (l.released_at is null and l.hold_until > now()) as live
            from ${numberLendings} l
           where l.number = n.number and l.offer_id = n.offer_id and l.rest_until > now()
           limit 1) l on true
       group by n.offer_id
       order by n.offer_id`),
  );
  return rows.map((r) => ({ offerId: r.offer_id, free: Number(r.free), lent: Number(r.lent), resting: Number(r.resting) }));
}

/** Pending webhook deliveries, and how long the oldest has waited (0 when none). */
export async function webhookBacklog(db: Database): Promise<{ pending: number; oldestPendingSeconds: number }> {
  const [row] = rowsOf<{ pending: number; oldest: number }>(
    await db.execute(sql`
      select count(*)::int as pending,
             coalesce(extract(epoch from now() - min(${webhookDeliveries.createdAt})), 0)::float8 as oldest
        from ${webhookDeliveries}
       where ${webhookDeliveries.status} = 'pending'`),
  );
  return { pending: Number(row?.pending ?? 0), oldestPendingSeconds: Math.max(0, Number(row?.oldest ?? 0)) };
}

/** What core/metrics.ts exports at scrape time: pool states and the webhook backlog. */
export async function metricsFigures(db: Database): Promise<{ pool: PoolFigures[]; webhookBacklog: number; oldestPendingWebhookSeconds: number }> {
  const [pool, backlog] = await Promise.all([poolFigures(db), webhookBacklog(db)]);
  return { pool, webhookBacklog: backlog.pending, oldestPendingWebhookSeconds: backlog.oldestPendingSeconds };
}

/** The database answers a trivial query within `timeoutMs` (readiness). Never rejects. */
export async function databaseReachable(db: Database, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      db.execute(sql`select 1`).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
