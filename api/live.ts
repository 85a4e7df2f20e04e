// Live purchase updates as Server-Sent Events. The IVR (or any process) writes events in the
// ledger, which NOTIFYs; every API process LISTENs once and wakes the feed of that purchase,
// which reads the event log once for all its streams and gives each stream what it has not
// sent yet. Event ids are purchase_events ids, so a client reconnecting with Last-Event-ID
// misses nothing, whichever process it reaches.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { liveStreams } from '../core/metrics.js';
import type { Database, DbHandle } from '../db/client.js';
import { EVENTS_CHANNEL, eventsSince, type StoredEvent } from '../db/ledger/index.js';
import { HttpProblem } from './problem.js';

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
  /** Streams registered in a purchase's feed, woken by its NOTIFYs. */
  subscriptions: number;
  /** Heartbeat timers running: one per purchase with streams in this process. */
  timers: number;
  /** Event-log reads under way: at most one per purchase. */
  reads: number;
}

/** Seconds a client is asked to wait when the process has no stream to spare. */
const STREAMS_FULL_RETRY_SECONDS = 10;
/** Events per read of the log (eventsSince's page); a full page is followed by another read. */
const READ_PAGE = 500;

/** One client's stream as its purchase's feed writes to it. */
interface StreamSink {
  res: Response;
  /** The last event id written to this client (or given as Last-Event-ID). */
  lastId: number;
  /** Its socket buffer is full: skipped by the feed until 'drain', which wakes the feed again. */
  blocked: boolean;
}

/** The streams of one purchase in this process, with their one heartbeat and one read at a time. */
interface PurchaseFeed {
  db: Database;
  sinks: Set<StreamSink>;
  timer: NodeJS.Timeout | null;
  reading: Promise<void> | null;
  again: boolean;
}

/** One SSE frame per event, serialised once whatever the number of streams. */
function frame(e: StoredEvent): string {
  return `id: ${e.id}\nevent: ${sseName(e)}\ndata: ${JSON.stringify(sseData(e))}\n\n`;
}

/**
 * One LISTEN per process, fanned out to one feed per purchase. A NOTIFY or a heartbeat costs
 * one read of the log per purchase, whatever its number of streams. Every resource a stream
 * holds (its slot, its place in the feed, the feed's timer, its reads) is taken through the
 * hub, which counts them: stats() shows that nothing outlives its connection.
 */
export class PurchaseEventHub {
  private readonly feeds = new Map<string, PurchaseFeed>();
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

  /**
   * Adds a stream (headers sent) to its purchase's feed, starting the feed's heartbeat if it is
   * the first; call the result once to remove it (the last one out stops the heartbeat).
   */
  join(db: Database, purchaseId: string, res: Response, lastId: number): () => void {
    let feed = this.feeds.get(purchaseId);
    if (!feed) this.feeds.set(purchaseId, (feed = { db, sinks: new Set(), timer: null, reading: null, again: false }));
    const joined = feed;
    const sink: StreamSink = { res, lastId, blocked: false };
    joined.sinks.add(sink);
    this.counts.subscriptions += 1;
    if (!joined.timer) {
      joined.timer = setInterval(() => this.tick(purchaseId, joined), this.heartbeatMs);
      this.counts.timers += 1;
    }
    // A slow client is skipped while its buffer is full; once it drains, it catches up.
    const drained = () => {
      sink.blocked = false;
      void this.pump(purchaseId, joined);
    };
    res.on('drain', drained);
    const leave = () => {
      res.off('drain', drained);
      joined.sinks.delete(sink);
      this.counts.subscriptions -= 1;
      if (joined.sinks.size > 0) return;
      if (joined.timer) {
        clearInterval(joined.timer);
        joined.timer = null;
        this.counts.timers -= 1;
      }
      // A read under way keeps the feed (one read at a time per purchase); it drops it when done.
      if (!joined.reading) this.drop(purchaseId, joined);
    };
    return leave;
  }

  /** Reads the log for the purchase's streams now; resolves once they have what was there. */
  catchUp(purchaseId: string): Promise<void> {
    const feed = this.feeds.get(purchaseId);
    return feed ? this.pump(purchaseId, feed) : Promise.resolve();
  }

  /** Resolves once LISTEN is active, or has failed (streams then catch up on their heartbeat). */
  ready(): Promise<void> {
    this.listening ??= this.listen(EVENTS_CHANNEL, (id) => {
      const feed = this.feeds.get(id);
      if (feed) void this.pump(id, feed);
    }).then(
      () => undefined,
      (err) => {
        this.log.error({ err }, 'LISTEN failed; streams fall back to polling');
        this.listening = null;
      },
    );
    return this.listening;
  }

  private tick(purchaseId: string, feed: PurchaseFeed): void {
    for (const sink of feed.sinks) if (!sink.blocked) sink.res.write(': keep-alive\n\n');
    void this.pump(purchaseId, feed);
  }

  private drop(purchaseId: string, feed: PurchaseFeed): void {
    if (this.feeds.get(purchaseId) === feed) this.feeds.delete(purchaseId);
  }

  /**
   * One read at a time per purchase; a wake during a read schedules exactly one more. A read
   * starts from the lowest position among the streams that can take data, and each stream is
   * written the events after its own position.
   */
  private pump(purchaseId: string, feed: PurchaseFeed): Promise<void> {
    if (feed.sinks.size === 0) return feed.reading ?? Promise.resolve();
    if (feed.reading) {
      feed.again = true;
      return feed.reading;
    }
    this.counts.reads += 1;
    feed.reading = (async () => {
      try {
        do {
          feed.again = false;
          let from = Infinity;
          for (const sink of feed.sinks) if (!sink.blocked) from = Math.min(from, sink.lastId);
          if (from === Infinity) break;
          const events = await eventsSince(feed.db, purchaseId, from, READ_PAGE);
          if (events.length === READ_PAGE) feed.again = true;
          this.fanOut(feed, events);
        } while (feed.again && feed.sinks.size > 0);
      } catch (err) {
        this.log.warn({ err, purchaseId }, 'event stream read failed');
      } finally {
        feed.reading = null;
        this.counts.reads -= 1;
        if (feed.sinks.size === 0) this.drop(purchaseId, feed);
      }
    })();
    return feed.reading;
  }

  /** Writes each stream its suffix of `events`, never waiting for one: a full buffer skips it. */
  private fanOut(feed: PurchaseFeed, events: StoredEvent[]): void {
    if (events.length === 0) return;
    const frames = events.map(frame);
    for (const sink of feed.sinks) {
      if (sink.blocked || connectionGone(sink.res)) continue;
      // Events are in id order: skip those this stream has, write the rest in one piece.
      let first = 0;
      while (first < events.length && events[first]!.id <= sink.lastId) first++;
      if (first === events.length) continue;
      const accepted = sink.res.write(first === 0 ? frames.join('') : frames.slice(first).join(''));
      sink.lastId = events[events.length - 1]!.id;
      if (!accepted) sink.blocked = true;
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
    // The phone's owner said "not my purchase" (hung up during the identity prompt): a page
    // can stop waiting for calls that will not come.
    disputedAt: p.disputedAt ?? null,
    ...(p.unit === 'second' ? { unit: p.unit, secondsRequired: p.secondsRequired, secondsCounted: p.secondsCounted, secondsRemaining: p.secondsRemaining } : {}),
  };
}

/** The response can no longer be written: the client left or the stream ended. */
function connectionGone(res: Response): boolean {
  return res.destroyed || res.writableEnded || res.socket?.destroyed === true;
}

/**
 * Streams a purchase's events from after Last-Event-ID (or the start) until the client leaves.
 * The close handler is registered before the first await, and everything the stream takes is
 * released by it, once, whenever the client leaves (even during authentication, before this).
 */
export async function streamPurchase(req: Request, res: Response, db: Database, hub: PurchaseEventHub, purchaseId: string): Promise<void> {
  // The client left, or never stayed: its 'close' event has fired already and will not again.
  if (connectionGone(res) || req.socket.destroyed) return;
  const release: (() => void)[] = [hub.admit(purchaseId)];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const free of release.splice(0)) free();
  };
  res.once('close', close);

  const fromHeader = Number(req.get('last-event-id') ?? req.query.lastEventId ?? 0);
  const lastId = Number.isSafeInteger(fromHeader) && fromHeader > 0 ? fromHeader : 0;
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.write('retry: 2000\n\n');
  release.push(hub.join(db, purchaseId, res, lastId));

  // LISTEN before the first read, so that an event written after that read is notified.
  await hub.ready();
  if (!closed) await hub.catchUp(purchaseId);
}
