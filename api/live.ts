// Live purchase updates as Server-Sent Events. The IVR (or any process) writes events in the
// ledger, which NOTIFYs; every API process LISTENs once and wakes the streams of that purchase,
// which read what they have not sent yet from the event log. Event ids are purchase_events ids,
// so a client reconnecting with Last-Event-ID misses nothing, whichever process it reaches.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { liveStreams } from '../core/metrics.js';
import type { Database, DbHandle } from '../db/client.js';
import { EVENTS_CHANNEL, eventsSince, type StoredEvent } from '../db/ledger/index.js';
import { HttpProblem } from './problem.js';

type Wake = () => void;

export interface StreamOptions {
  /** Comment line + catch-up read, so proxies keep the connection and a lost NOTIFY heals. */
  heartbeatMs?: number;
  /** Concurrent streams of one purchase (its page's tabs and the merchant's backend); past it, 429. */
  maxPerPurchase?: number;
  /** Concurrent streams in this process; past it, 503 + Retry-After. */
  maxPerProcess?: number;
}

/** What live streams hold right now; every figure is back to 0 once no client is connected. */
export interface LiveStats {
  /** Streams admitted and not yet closed. */
  streams: number;
  /** Wake-ups registered for NOTIFYs. */
  subscriptions: number;
  /** Heartbeat timers running. */
  timers: number;
  /** Event-log reads under way. */
  reads: number;
}

/** Seconds a client is asked to wait when the process has no stream to spare. */
const STREAMS_FULL_RETRY_SECONDS = 10;

/**
 * One LISTEN per process, fanned out to the streams of each purchase. Every resource a stream
 * holds (its slot, its wake-up, its timer, its reads) is taken through the hub, which counts
 * them: stats() shows that nothing outlives its connection.
 */
export class PurchaseEventHub {
  private readonly wakes = new Map<string, Set<Wake>>();
  private readonly streamsPerPurchase = new Map<string, number>();
  private readonly counts: LiveStats = { streams: 0, subscriptions: 0, timers: 0, reads: 0 };
  private listening: Promise<void> | null = null;
  private readonly heartbeatMs: number;
  private readonly maxPerPurchase: number;
  private readonly maxPerProcess: number;

  constructor(
    private readonly listen: DbHandle['listen'],
    private readonly log: Logger,
    opts: StreamOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxPerPurchase = opts.maxPerPurchase ?? 5;
    this.maxPerProcess = opts.maxPerProcess ?? 1000;
  }

  stats(): LiveStats {
    return { ...this.counts };
  }

  /** Takes a stream slot for the purchase, or throws the 429 / 503 to answer. Release once. */
  admit(purchaseId: string): () => void {
    if (this.counts.streams >= this.maxPerProcess) {
      throw new HttpProblem(503, 'too-many-streams', 'Too many event streams', `This server has no event stream to spare; retry in ${STREAMS_FULL_RETRY_SECONDS} s.`, {}, { 'Retry-After': String(STREAMS_FULL_RETRY_SECONDS) });
    }
    const open = this.streamsPerPurchase.get(purchaseId) ?? 0;
    if (open >= this.maxPerPurchase) {
      throw new HttpProblem(429, 'too-many-streams', 'Too many event streams', `This purchase already has ${open} event streams open; close one first.`);
    }
    this.streamsPerPurchase.set(purchaseId, open + 1);
    this.counts.streams += 1;
    liveStreams.inc();
    return () => {
      const left = (this.streamsPerPurchase.get(purchaseId) ?? 1) - 1;
      if (left > 0) this.streamsPerPurchase.set(purchaseId, left);
      else this.streamsPerPurchase.delete(purchaseId);
      this.counts.streams -= 1;
      liveStreams.dec();
    };
  }

  /** Registers a wake-up for the purchase's NOTIFYs at once; call the result once to remove it. */
  subscribe(purchaseId: string, wake: Wake): () => void {
    let set = this.wakes.get(purchaseId);
    if (!set) this.wakes.set(purchaseId, (set = new Set()));
    set.add(wake);
    this.counts.subscriptions += 1;
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.wakes.get(purchaseId) === set) this.wakes.delete(purchaseId);
      this.counts.subscriptions -= 1;
    };
  }

  /** Resolves once LISTEN is active, or has failed (streams then catch up on their heartbeat). */
  ready(): Promise<void> {
    this.listening ??= this.listen(EVENTS_CHANNEL, (id) => this.wakes.get(id)?.forEach((w) => w())).then(
      () => undefined,
      (err) => {
        this.log.error({ err }, 'LISTEN failed; streams fall back to polling');
        this.listening = null;
      },
    );
    return this.listening;
  }

  /** A stream's heartbeat timer; call the result once to stop it. */
  heartbeat(tick: () => void): () => void {
    const timer = setInterval(tick, this.heartbeatMs);
    this.counts.timers += 1;
    return () => {
      clearInterval(timer);
      this.counts.timers -= 1;
    };
  }

  /** Runs a read of the event log, counted while under way. */
  async read(run: () => Promise<void>): Promise<void> {
    this.counts.reads += 1;
    try {
      await run();
    } finally {
      this.counts.reads -= 1;
    }
  }
}

/** SSE event name for each ledger event type. */
function sseName(e: StoredEvent): string {
  return e.type === 'completed' || e.type === 'expired' || e.type === 'cancelled' ? e.type : 'progress';
}

/** What a page needs to draw the purchase: counts, state, "a call is in progress". */
export function sseData(e: StoredEvent) {
  const p = e.data.purchase;
  return {
    purchaseId: p.id,
    status: p.status,
    callsRequired: p.callsRequired,
    callsCounted: p.callsCounted,
    callsRemaining: p.callsRemaining,
    callInProgress: e.data.callInProgress,
    numberToCall: p.numberToCall,
    expiresAt: p.expiresAt,
    completedAt: p.completedAt,
    ...(p.unit === 'second' ? { unit: p.unit, secondsRequired: p.secondsRequired, secondsCounted: p.secondsCounted, secondsRemaining: p.secondsRemaining } : {}),
  };
}

/** The client left, or never stayed: its 'close' event has fired already and will not again. */
function connectionGone(req: Request, res: Response): boolean {
  return res.destroyed || res.writableEnded || req.socket.destroyed;
}

/**
 * Streams a purchase's events from after Last-Event-ID (or the start) until the client leaves.
 * The close handler is registered before the first await, and everything the stream takes is
 * released by it, once, whenever the client leaves (even during authentication, before this).
 */
export async function streamPurchase(req: Request, res: Response, db: Database, hub: PurchaseEventHub, purchaseId: string): Promise<void> {
  if (connectionGone(req, res)) return;
  const release: (() => void)[] = [hub.admit(purchaseId)];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const free of release.splice(0)) free();
  };
  res.once('close', close);

  const fromHeader = Number(req.get('last-event-id') ?? req.query.lastEventId ?? 0);
  let lastId = Number.isSafeInteger(fromHeader) && fromHeader > 0 ? fromHeader : 0;
  let reading: Promise<void> | null = null;
  let again = false;
  // One read at a time; a wake during a read schedules exactly one more.
  const pump = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (reading) {
      again = true;
      return reading;
    }
    reading = hub
      .read(async () => {
        do {
          again = false;
          const events = await eventsSince(db, purchaseId, lastId);
          for (const e of events) {
            if (closed) return;
            res.write(`id: ${e.id}\nevent: ${sseName(e)}\ndata: ${JSON.stringify(sseData(e))}\n\n`);
            lastId = e.id;
          }
        } while (again && !closed);
      })
      .catch((err) => req.log?.warn({ err }, 'event stream read failed'))
      .finally(() => (reading = null));
    return reading;
  };

  release.push(hub.subscribe(purchaseId, () => void pump()));
  release.push(
    hub.heartbeat(() => {
      res.write(': keep-alive\n\n');
      void pump();
    }),
  );
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.write('retry: 2000\n\n');

  // LISTEN before the first read, so that an event written after that read is notified.
  await hub.ready();
  await pump();
}
