// Every Prometheus metric of sanscode, defined once, in one registry per process (prom-client).
// The API and the IVR each serve this registry on their own METRICS_PORT (core/health.ts).
// Shells record events through the few functions below; figures that live in the database
// (pool states, webhook backlog) are read at scrape time through a source the process
// registers (setLedgerSource), cached so that a scrape never hammers the database.
//
// Labels never hold anything a request can choose: no ids, URLs, phone numbers or tokens,
// only closed lists (outcomes, modes, route templates) and offer ids the operator created.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
// GC pauses in the milliseconds: a young-generation collection of a few ms is what a request
// waits behind at the API's p99 (bench/api.ts reads them); the default buckets jump from 1 to 10 ms.
collectDefaultMetrics({ register: registry, prefix: 'sanscode_', gcDurationBuckets: [0.001, 0.002, 0.005, 0.01, 0.1, 1] });

// --- calls (IVR) ---------------------------------------------------------------------------

export const callsEnded = new Counter({
  name: 'sanscode_calls_total',
  help: 'Calls whose record was closed, by outcome (counted, too_short, abandoned, lost, or the refusal cause).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const callDecisionSeconds = new Histogram({
  name: 'sanscode_call_decision_seconds',
  help: 'Time from StasisStart to the ledger decision (admitCall), by action (answer, reject, conclude).',
  labelNames: ['action'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const callAnsweredSeconds = new Histogram({
  name: 'sanscode_call_answered_seconds',
  help: 'Billed (answered) duration of closed calls; _sum is the answered seconds in all.',
  buckets: [5, 10, 20, 30, 45, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

let activeCallsSource: (() => number) | null = null;
new Gauge({
  name: 'sanscode_active_calls',
  help: 'Calls this IVR process is following right now.',
  registers: [registry],
  collect() {
    this.set(activeCallsSource?.() ?? 0);
  },
});
/** The IVR worker names what to read at scrape time; null when it stops. */
export function setActiveCallsSource(source: (() => number) | null): void {
  activeCallsSource = source;
}

export const ariConnected = new Gauge({
  name: 'sanscode_ari_connected',
  help: '1 while this IVR process holds its ARI (Asterisk) connection.',
  registers: [registry],
});

export const ivrLeader = new Gauge({
  name: 'sanscode_ivr_leader',
  help: '1 while this IVR process is the active worker (serves the calls of its Asterisk node).',
  registers: [registry],
});

/** A closed call record, as the ledger returned it. */
export function recordCallEnd(call: { outcome: string; answeredSeconds: number | null }): void {
  callsEnded.inc({ outcome: call.outcome });
  if (call.answeredSeconds !== null) callAnsweredSeconds.observe(call.answeredSeconds);
}

// --- purchases -----------------------------------------------------------------------------

export const purchasesCreated = new Counter({
  name: 'sanscode_purchases_created_total',
  help: 'Purchases created by this API process, by mode.',
  labelNames: ['mode'] as const,
  registers: [registry],
});

export const ledgerBatchSize = new Histogram({
  name: 'sanscode_ledger_batch_size',
  help: 'Requests the ledger of this process ran at once, by operation (purchase_creation, purchase_read, event_read): alone (size 1), together in one transaction or statement, or together and then each alone after that run failed on a race or deadlock (fell_back).',
  labelNames: ['op', 'way'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: [registry],
});

export const purchasesCompleted = new Counter({
  name: 'sanscode_purchases_completed_total',
  help: 'Purchases completed, by mode: by a call this IVR process counted (calls or seconds), or by a lost-call credit through this API process.',
  labelNames: ['mode'] as const,
  registers: [registry],
});

// --- webhooks (API processes run the sender) --------------------------------------------------

export const webhookAttempts = new Counter({
  name: 'sanscode_webhook_delivery_attempts_total',
  help: 'Webhook HTTP attempts made by this process.',
  registers: [registry],
});

export const webhookFailures = new Counter({
  name: 'sanscode_webhook_delivery_failures_total',
  help: 'Webhook attempts that failed (non-2xx, timeout, refused destination), by what follows: retry or failed for good.',
  labelNames: ['next'] as const,
  registers: [registry],
});

// --- HTTP API ------------------------------------------------------------------------------

export const liveStreams = new Gauge({
  name: 'sanscode_live_streams',
  help: 'Server-Sent Events streams open on this API process.',
  registers: [registry],
});

export const httpSeconds = new Histogram({
  name: 'sanscode_http_request_duration_seconds',
  help: 'HTTP request duration by method, route template (never the raw path) and status code.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

// --- figures read from the ledger at scrape time ------------------------------------------------

export interface LedgerFigures {
  pool: { offerId: string; free: number; lent: number; resting: number }[];
  webhookBacklog: number;
  /** Age of the oldest pending delivery (0 when none). */
  oldestPendingWebhookSeconds: number;
}

/** Scrapes within this long of the last read reuse it. */
const LEDGER_CACHE_MS = 10_000;
let ledgerSource: (() => Promise<LedgerFigures>) | null = null;
let cached: { at: number; figures: Promise<LedgerFigures | null> } | null = null;

/** The process that holds the database names how to read its figures (null: none). */
export function setLedgerSource(source: (() => Promise<LedgerFigures>) | null): void {
  ledgerSource = source;
  cached = null;
}

/** The cached figures; null when no source is set or the read failed (series then absent). */
function ledgerFigures(): Promise<LedgerFigures | null> {
  const now = Date.now();
  if (!cached || now - cached.at >= LEDGER_CACHE_MS) {
    const source = ledgerSource;
    cached = { at: now, figures: source ? source().catch(() => null) : Promise.resolve(null) };
  }
  return cached.figures;
}

const pool = new Gauge({
  name: 'sanscode_pool_numbers',
  help: 'Numbers of each dynamic-number offer by state (free, lent, resting).',
  labelNames: ['offer', 'state'] as const,
  registers: [registry],
  async collect() {
    const f = await ledgerFigures();
    this.reset();
    for (const p of f?.pool ?? []) {
      pool.set({ offer: p.offerId, state: 'free' }, p.free);
      pool.set({ offer: p.offerId, state: 'lent' }, p.lent);
      pool.set({ offer: p.offerId, state: 'resting' }, p.resting);
    }
  },
});

new Gauge({
  name: 'sanscode_webhook_backlog',
  help: 'Webhook deliveries pending in the outbox.',
  registers: [registry],
  async collect() {
    const f = await ledgerFigures();
    if (f) this.set(f.webhookBacklog);
  },
});

new Gauge({
  name: 'sanscode_webhook_oldest_pending_seconds',
  help: 'Age of the oldest pending webhook delivery (0 when none is pending).',
  registers: [registry],
  async collect() {
    const f = await ledgerFigures();
    if (f) this.set(f.oldestPendingWebhookSeconds);
  },
});
