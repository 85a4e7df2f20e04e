// Delivers the webhook outbox (db table webhook_deliveries). Every API process runs one; they
// share the work through leases the ledger takes in the database (db/ledger/webhooks.ts), never
// hold a transaction during an HTTP call, and deliver in order per purchase. At-least-once: a
// receiver that answers 2xx after a sender lost its lease (stalled past it) may see an event
// twice, which is why receivers de-duplicate by event id (docs/webhooks.md). The body and its
// event id were fixed by the ledger (domain/webhook-event.ts); this only signs and sends.
import type { Logger } from 'pino';
import { webhookAttempts, webhookFailures } from '../core/metrics.js';
import type { Database } from '../db/client.js';
import { claimDueDeliveries, markDelivered, markFailed, type ClaimedDelivery } from '../db/ledger/index.js';
import { refusedDestination } from './destination.js';
import { SIGNATURE_HEADER, sign } from './signature.js';

export interface WebhookSenderOptions {
  /** First retry delay; doubles at each failure. */
  baseBackoffMs?: number;
  pollMs?: number;
  /** Longest retry delay (default 1 h). */
  maxBackoffMs?: number;
  /** A delivery still failing this long after its event is failed for good (default 72 h). */
  maxAgeMs?: number;
  /** HTTP timeout of one attempt (default 10 s). */
  timeoutMs?: number;
  /** How long a claimed delivery stays reserved to this sender; must exceed timeoutMs. */
  leaseMs?: number;
  /** Deliveries claimed (and sent concurrently) per poll. */
  batchSize?: number;
  /** Deliver to loopback and private addresses too (development, tests); default false. */
  allowPrivateNetworks?: boolean;
}

export interface WebhookSender {
  stop(): Promise<void>;
}

const DEFAULTS = {
  baseBackoffMs: 10_000,
  pollMs: 1_000,
  maxBackoffMs: 3_600_000,
  maxAgeMs: 72 * 3_600_000,
  timeoutMs: 10_000,
  leaseMs: 60_000,
  batchSize: 10,
  allowPrivateNetworks: false,
};

/** Retry delay after the n-th failed attempt (n ≥ 1): base × 2^(n-1), capped, plus up to 10 % jitter. */
export function backoffMs(failedAttempts: number, baseMs: number, maxMs: number): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(failedAttempts - 1, 40));
  return Math.round(delay * (1 + Math.random() * 0.1));
}

export function startWebhookSender(db: Database, log: Logger, opts: WebhookSenderOptions = {}): WebhookSender {
  const o = { ...DEFAULTS, ...opts };
  if (o.leaseMs <= o.timeoutMs) throw new Error('webhook leaseMs must exceed timeoutMs');
  let stopping = false;
  let wake: (() => void) | null = null;
  let dbFailing = false;

  async function attempt(c: ClaimedDelivery): Promise<void> {
    const ids = { deliveryId: c.id, eventId: c.eventId, purchaseId: c.purchaseId, attempt: c.attempts + 1 };
    if (!c.url || !c.secret) {
      await markFailed(db, c, { statusCode: null, error: 'no webhook configured', retryInMs: 0, maxAgeMs: o.maxAgeMs, attempted: false });
      log.warn(ids, 'webhook not sent: no webhook configured');
      return;
    }
    const started = Date.now();
    webhookAttempts.inc();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const refused = await refusedDestination(c.url, o.allowPrivateNetworks);
      if (refused) throw new Error(`destination refused: ${refused}`);
      const res = await fetch(c.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'sanscode-webhooks',
          [SIGNATURE_HEADER]: sign(c.secret, c.body),
        },
        body: c.body,
        // A redirect is an answer like any other non-2xx: following it would send signed
        // events to a place the merchant did not configure.
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      statusCode = res.status;
      await res.body?.cancel().catch(() => {});
      if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
    } catch (err) {
      error = describe(err, o.timeoutMs);
    }
    const ms = Date.now() - started;
    const host = URL.canParse(c.url) ? new URL(c.url).host : null; // never the full URL: it may hold a token
    if (error === null) {
      const kept = await markDelivered(db, c, statusCode!);
      log.info({ ...ids, statusCode, ms, host, leaseLost: !kept || undefined }, 'webhook delivered');
      return;
    }
    const status = await markFailed(db, c, {
      statusCode,
      error,
      retryInMs: backoffMs(c.attempts + 1, o.baseBackoffMs, o.maxBackoffMs),
      maxAgeMs: o.maxAgeMs,
      attempted: true,
    });
    webhookFailures.inc({ next: status === 'failed' ? 'failed' : 'retry' });
    log.warn({ ...ids, statusCode, error, ms, host, status: status ?? 'lease lost' }, 'webhook attempt failed');
  }

  /** One claim and its deliveries; returns how many were claimed. */
  async function pass(): Promise<number> {
    const batch = await claimDueDeliveries(db, o.batchSize, o.leaseMs);
    // A batch holds at most one delivery per purchase (a later one is not due while an
    // earlier one is pending), so sending them side by side keeps the order per purchase.
    await Promise.all(batch.map((c) => attempt(c).catch((err) => log.error({ err, deliveryId: c.id }, 'webhook attempt crashed'))));
    return batch.length;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await pass();
        if (dbFailing) log.info('webhook sender recovered');
        dbFailing = false;
      } catch (err) {
        // Logged once per outage, not at every poll.
        if (!dbFailing) log.error({ err }, 'webhook sender cannot reach the database');
        dbFailing = true;
      }
      // After a delivery the purchase's next event is due at once: claim again without
      // waiting. Only an empty claim (or a database error) waits for the next poll.
      if (claimed === 0 && !stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, o.pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    }
  }

  const running = loop();
  return {
    async stop() {
      stopping = true;
      wake?.();
      await running; // the current pass, with its in-flight deliveries, finishes first
    },
  };
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timeout after ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
