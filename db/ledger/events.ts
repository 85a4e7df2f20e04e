// Reading the purchase event log (what the live stream replays and follows).
import { and, asc, desc, eq, gt } from 'drizzle-orm';
import type { Database } from '../client.js';
import { purchaseEvents, type PurchaseEventType } from '../schema.js';
import type { PurchaseEventData } from './shared.js';

export interface StoredEvent {
  id: number;
  type: PurchaseEventType;
  createdAt: Date;
  data: PurchaseEventData;
}

/** Events of one purchase after `afterId`, oldest first. */
export async function eventsSince(db: Database, purchaseId: string, afterId: number, limit = 500): Promise<StoredEvent[]> {
  const rows = await db
    .select({ id: purchaseEvents.id, type: purchaseEvents.type, createdAt: purchaseEvents.createdAt, data: purchaseEvents.data })
    .from(purchaseEvents)
    .where(and(eq(purchaseEvents.purchaseId, purchaseId), gt(purchaseEvents.id, afterId)))
    .orderBy(asc(purchaseEvents.id))
    .limit(limit);
  return rows as StoredEvent[];
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
