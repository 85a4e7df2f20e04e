// Reading the purchase event log (what the live stream replays and follows).
import { and, asc, desc, eq, gt, sql } from 'drizzle-orm';
import { ledgerBatchSize } from '../../core/metrics.js';
import type { Database } from '../client.js';
import { purchaseEvents, type PurchaseEventType } from '../schema.js';
import { BatchQueue, queuePerHandle } from './batch-queue.js';
import { rowsOf, type PurchaseEventData } from './shared.js';

export interface StoredEvent {
  id: number;
  type: PurchaseEventType;
  createdAt: Date;
  data: PurchaseEventData;
}

/**
 * Events of one purchase after `afterId`, oldest first, `limit` at most. Reads that arrive
 * while others are under way share one statement (eventsQueue).
 */
export function eventsSince(db: Database, purchaseId: string, afterId: number, limit = 500): Promise<StoredEvent[]> {
  return eventsQueue(db).submit({ purchaseId, afterId, limit });
}

/** One purchase's read of the log. */
interface EventsRequest {
  purchaseId: string;
  afterId: number;
  limit: number;
}

/**
 * A counted call wakes one purchase's live feed, but a burst (many purchases changing in the
 * same instant, the catch-up heartbeats) wakes many, and each read was a statement of its own:
 * 500 purchases counted at once were 500 round trips before their 10,000 watchers heard of
 * it. Up to four reads run at once per process, alone, as before; reads arriving while four
 * are under way leave together in one statement (batch-queue.ts).
 */
const eventsQueue = queuePerHandle(
  (db: Database) =>
    new BatchQueue<EventsRequest, StoredEvent[]>(
      {
        alone: (r) => eventsOfOne(db, r),
        together: async (reqs) => {
          const byRequest = await eventsOfMany(db, reqs);
          return byRequest.map((value) => ({ value }));
        },
      },
      { maxRunning: 4, maxBatch: 100, onRun: (way, size) => ledgerBatchSize.observe({ op: 'event_read', way }, size) },
    ),
);

async function eventsOfOne(db: Database, { purchaseId, afterId, limit }: EventsRequest): Promise<StoredEvent[]> {
  const rows = await db
    .select({ id: purchaseEvents.id, type: purchaseEvents.type, createdAt: purchaseEvents.createdAt, data: purchaseEvents.data })
    .from(purchaseEvents)
    .where(and(eq(purchaseEvents.purchaseId, purchaseId), gt(purchaseEvents.id, afterId)))
    .orderBy(asc(purchaseEvents.id))
    .limit(limit);
  return rows as StoredEvent[];
}

/**
 * Each request's events, in the order of the requests: one statement, each purchase's page
 * read through the (purchase_id, id) index as eventsOfOne reads it (a lateral subquery per
 * request, so one purchase's limit never takes from another's).
 */
async function eventsOfMany(db: Database, reqs: EventsRequest[]): Promise<StoredEvent[][]> {
  const wanted = JSON.stringify(reqs.map((r, n) => ({ n, purchase_id: r.purchaseId, after_id: r.afterId, page: r.limit })));
  type Row = { n: number; id: string | number; type: PurchaseEventType; created_at: string | Date; data: PurchaseEventData | string };
  const result = await db.execute(sql`
    select q.n, e.id, e.type, e.created_at, e.data
    from json_to_recordset(${wanted}::json) as q(n int, purchase_id uuid, after_id bigint, page int)
    cross join lateral (
      select ${purchaseEvents.id} as id, ${purchaseEvents.type} as type, ${purchaseEvents.createdAt} as created_at, ${purchaseEvents.data} as data
      from ${purchaseEvents}
      where ${purchaseEvents.purchaseId} = q.purchase_id and ${purchaseEvents.id} > q.after_id
      order by ${purchaseEvents.id}
      limit q.page
    ) e
    order by q.n, e.id`);
  const byRequest = reqs.map((): StoredEvent[] => []);
  // Raw rows: the driver leaves int8 as text, and a timestamp or jsonb as the client was told.
  for (const row of rowsOf<Row>(result)) {
    byRequest[row.n]!.push({
      id: Number(row.id),
      type: row.type,
      createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
      data: typeof row.data === 'string' ? (JSON.parse(row.data) as PurchaseEventData) : row.data,
    });
  }
  return byRequest;
}

/** The newest event of a purchase: its snapshot is the purchase as the page should show it. */
export async function latestEvent(db: Database, purchaseId: string): Promise<StoredEvent | null> {
  const [row] = await db
    .select({ id: purchaseEvents.id, type: purchaseEvents.type, createdAt: purchaseEvents.createdAt, data: purchaseEvents.data })
    .from(purchaseEvents)
    .where(eq(purchaseEvents.purchaseId, purchaseId))
    .orderBy(desc(purchaseEvents.id))
    .limit(1);
  return (row as StoredEvent | undefined) ?? null;
}
