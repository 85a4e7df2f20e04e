// Webhook settings and the outbox (webhook_deliveries). recordEvent queues a delivery in the
// transaction of the change it describes; everything after that (claiming, the outcome of each
// attempt) lives here too, so webhooks/sender.ts and the API reach the outbox only through the
// ledger. The event's id and body come from domain/webhook-event.ts.
import { randomBytes } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { PurchaseView } from '../../domain/index.js';
import { eventIdOf, webhookEventBody, webhookTypeOf } from '../../domain/webhook-event.js';
import type { Database } from '../client.js';
import { builtOnce } from './built-once.js';
import { merchants, webhookDeliveries, type PurchaseEventType } from '../schema.js';

export interface WebhookSettings {
  url: string;
  secret: string;
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/**
 * Sets the merchant's webhook URL. The secret is created on first use and kept afterwards, so
 * moving the URL does not break the receiver's verification; `rotateSecret` replaces it. One
 * statement, so two concurrent first PUTs end with the same secret.
 */
export async function setWebhook(db: Database, merchantId: string, url: string, rotateSecret = false): Promise<WebhookSettings> {
  const [row] = await db
    .update(merchants)
    .set({
      webhookUrl: url,
      webhookSecret: rotateSecret ? newSecret() : sql`coalesce(${merchants.webhookSecret}, ${newSecret()})`,
    })
    .where(eq(merchants.id, merchantId))
    .returning({ url: merchants.webhookUrl, secret: merchants.webhookSecret });
  return { url: row!.url!, secret: row!.secret! };
}

/**
 * Removes the webhook: no new event is queued, and the deliveries still pending are failed at
 * once ("webhook removed") rather than sent later to a URL the merchant gave up. The secret
 * goes too: a later PUT starts with a new one.
 */
export async function removeWebhook(db: Database, merchantId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(merchants).set({ webhookUrl: null, webhookSecret: null }).where(eq(merchants.id, merchantId));
    await tx
      .update(webhookDeliveries)
      .set({ status: 'failed', lastError: 'webhook removed' })
      .where(and(eq(webhookDeliveries.merchantId, merchantId), eq(webhookDeliveries.status, 'pending')));
  });
}

/**
 * Queues the webhook of a just-recorded purchase event, when merchants hear about that kind of
 * event and this merchant has a webhook. `tx` is the transaction that recorded the event
 * (recordEvent), so the delivery exists exactly when the event does.
 */
export async function queueWebhook(
  tx: Database,
  event: { id: number; type: PurchaseEventType; createdAt: Date; merchantId: string; purchase: PurchaseView },
): Promise<void> {
  const webhook = webhookOf(event);
  if (!webhook) return;
  const [merchant] = await webhookUrlOf(tx, { merchantId: event.merchantId });
  if (!merchant?.url) return;
  await tx.insert(webhookDeliveries).values({ merchantId: event.merchantId, purchaseId: event.purchase.id, eventId: event.id, ...webhook });
}

// Read for every purchase event, on the call path too: built once (built-once.ts).
const webhookUrlOf = builtOnce('webhook_url_of', (tx, name) =>
  tx
    .select({ url: merchants.webhookUrl })
    .from(merchants)
    .where(eq(merchants.id, sql.placeholder('merchantId')))
    .prepare(name),
);

/**
 * The webhook a purchase event bears (its type and exact body), or null when merchants do not
 * hear about that kind of event. Queued only when the merchant has a webhook URL.
 */
export function webhookOf(event: { id: number; type: PurchaseEventType; createdAt: Date; purchase: PurchaseView }): { type: string; body: string } | null {
  const type = webhookTypeOf(event.type);
  // An access-code formula is the caller's, not a purchase the merchant asked for: its
  // merchant hears code.issued and code.redeemed (db/ledger/codes.ts), not purchase.*.
  if (!type || event.purchase.mode === 'access_code') return null;
  return { type, body: webhookEventBody({ purchaseEventId: event.id, type, createdAt: event.createdAt, purchase: event.purchase }) };
}

export interface DeliveryView {
  id: number;
  eventId: string;
  type: string;
  purchaseId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** Pending only: when the next attempt is due (or, while one is under way, its lease end). */
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

/** A merchant's deliveries, newest first. */
export async function listDeliveries(db: Database, merchantId: string, opts: { limit: number; purchaseId?: string | undefined }): Promise<DeliveryView[]> {
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.merchantId, merchantId), opts.purchaseId ? eq(webhookDeliveries.purchaseId, opts.purchaseId) : undefined))
    .orderBy(desc(webhookDeliveries.id))
    .limit(opts.limit);
  return rows.map((r) => ({
    id: r.id,
    eventId: eventIdOf(r.eventId),
    type: r.type,
    purchaseId: r.purchaseId,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt.toISOString() : null,
    lastAttemptAt: r.lastAttemptAt?.toISOString() ?? null,
    lastStatusCode: r.lastStatusCode,
    lastError: r.lastError,
    deliveredAt: r.deliveredAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(),
  }));
}

/** A delivery leased to one sender, with where and how to send it. */
export interface ClaimedDelivery {
  id: number;
  /** Public event id (evt_…), as in the body. */
  eventId: string;
  purchaseId: string;
  body: string;
  attempts: number;
  /** The lease end as written by the claim: the fencing token of the outcome updates. */
  lease: string;
  /** Current settings of the merchant (null once the webhook was removed). */
  url: string | null;
  secret: string | null;
}

/**
 * Leases up to `limit` due deliveries for `leaseMs`, in one statement (no transaction stays
 * open during the HTTP calls). Due: pending, its time has come, and no earlier delivery of the
 * same purchase is still pending: this is what orders deliveries per purchase, across any
 * number of senders. SKIP LOCKED lets concurrent senders take different rows; a leased row
 * is invisible to others until its lease runs out (a sender that died mid-way).
 */
export async function claimDueDeliveries(db: Database, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const d = webhookDeliveries;
  const claimed = await db
    .update(d)
    .set({ nextAttemptAt: sql`now() + make_interval(secs => ${leaseMs / 1000})` })
    .where(
      sql`${d.id} in (
        select c.id from ${d} c
         where c.status = 'pending' and c.next_attempt_at <= now()
           and not exists (select 1 from ${d} e where e.purchase_id = c.purchase_id and e.status = 'pending' and e.id < c.id)
         order by c.next_attempt_at, c.id
         limit ${limit}
           for update skip locked)`,
    )
    .returning({
      id: d.id,
      eventId: d.eventId,
      purchaseId: d.purchaseId,
      merchantId: d.merchantId,
      body: d.body,
      attempts: d.attempts,
      lease: sql<string>`${d.nextAttemptAt}::text`,
    });
  if (claimed.length === 0) return [];
  const settings = await db
    .select({ id: merchants.id, url: merchants.webhookUrl, secret: merchants.webhookSecret })
    .from(merchants)
    .where(inArray(merchants.id, [...new Set(claimed.map((c) => c.merchantId))]));
  const byId = new Map(settings.map((s) => [s.id, s]));
  return claimed
    .sort((a, b) => a.id - b.id)
    .map(({ merchantId, eventId, ...c }) => ({
      ...c,
      eventId: eventIdOf(eventId),
      url: byId.get(merchantId)?.url ?? null,
      secret: byId.get(merchantId)?.secret ?? null,
    }));
}

/** The row still holds this sender's lease: a sender whose lease ran out changes nothing. */
const leased = (c: ClaimedDelivery) => and(eq(webhookDeliveries.id, c.id), sql`${webhookDeliveries.nextAttemptAt} = ${c.lease}::timestamptz`);

/** Records a 2xx. Returns false if the lease was lost meanwhile. */
export async function markDelivered(db: Database, c: ClaimedDelivery, statusCode: number): Promise<boolean> {
  const rows = await db
    .update(webhookDeliveries)
    .set({
      status: 'delivered',
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      lastAttemptAt: sql`now()`,
      lastStatusCode: statusCode,
      lastError: null,
      deliveredAt: sql`now()`,
    })
    .where(leased(c))
    .returning({ id: webhookDeliveries.id });
  return rows.length > 0;
}

/**
 * Records a failed attempt: retried after `retryInMs`, or failed for good once the delivery
 * is older than `maxAgeMs` (every delivery gets at least one attempt). `attempted` false: the
 * request was never sent (no webhook configured), so it does not count as an attempt.
 * Returns the new status, or null if the lease was lost (or the webhook removed) meanwhile.
 */
export async function markFailed(
  db: Database,
  c: ClaimedDelivery,
  outcome: { statusCode: number | null; error: string; retryInMs: number; maxAgeMs: number; attempted: boolean },
): Promise<'pending' | 'failed' | null> {
  const d = webhookDeliveries;
  const giveUp = sql`${d.createdAt} <= now() - make_interval(secs => ${outcome.maxAgeMs / 1000})`;
  const rows = await db
    .update(d)
    .set({
      status: outcome.attempted ? sql`case when ${giveUp} then 'failed' else 'pending' end` : 'failed',
      attempts: outcome.attempted ? sql`${d.attempts} + 1` : sql`${d.attempts}`,
      lastAttemptAt: outcome.attempted ? sql`now()` : sql`${d.lastAttemptAt}`,
      lastStatusCode: outcome.statusCode,
      lastError: outcome.error.slice(0, 500),
      nextAttemptAt: sql`now() + make_interval(secs => ${outcome.retryInMs / 1000})`,
    })
    .where(and(leased(c), eq(d.status, 'pending')))
    .returning({ status: d.status });
  return (rows[0]?.status as 'pending' | 'failed' | undefined) ?? null;
}
