// Live purchase updates as Server-Sent Events. The IVR (or any process) writes events in the
// ledger, which NOTIFYs; every API process LISTENs once and wakes the streams of that purchase,
// which read what they have not sent yet from the event log. Event ids are purchase_events ids,
// so a client reconnecting with Last-Event-ID misses nothing, whichever process it reaches.
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Database, DbHandle } from '../db/client.js';
import { EVENTS_CHANNEL, eventsSince, type StoredEvent } from '../db/ledger/index.js';

type Wake = () => void;

/** One LISTEN per process, fanned out to the streams of each purchase. */
export class PurchaseEventHub {
  private readonly streams = new Map<string, Set<Wake>>();
  private listening: Promise<unknown> | null = null;

  constructor(
    private readonly listen: DbHandle['listen'],
    private readonly log: Logger,
  ) {}

  async subscribe(purchaseId: string, wake: Wake): Promise<() => void> {
    this.listening ??= this.listen(EVENTS_CHANNEL, (id) => this.streams.get(id)?.forEach((w) => w())).catch((err) => {
      this.log.error({ err }, 'LISTEN failed; streams fall back to polling');
      this.listening = null;
    });
    await this.listening;
    let set = this.streams.get(purchaseId);
    if (!set) this.streams.set(purchaseId, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.streams.delete(purchaseId);
    };
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
  };
}

export interface StreamOptions {
  /** Comment line + catch-up read, so proxies keep the connection and a lost NOTIFY heals. */
  heartbeatMs?: number;
}

/** Streams a purchase's events from after Last-Event-ID (or the start) until the client leaves. */
export async function streamPurchase(
  req: Request,
  res: Response,
  db: Database,
  hub: PurchaseEventHub,
  purchaseId: string,
  opts: StreamOptions = {},
): Promise<void> {
  const fromHeader = Number(req.get('last-event-id') ?? req.query.lastEventId ?? 0);
  let lastId = Number.isSafeInteger(fromHeader) && fromHeader > 0 ? fromHeader : 0;
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.write('retry: 2000\n\n');

  let closed = false;
  let pumping: Promise<void> | null = null;
  let again = false;
  // One read at a time; a wake during a read schedules exactly one more.
  const pump = (): Promise<void> => {
    if (pumping) {
      again = true;
      return pumping;
    }
    pumping = (async () => {
      do {
        again = false;
        const events = await eventsSince(db, purchaseId, lastId);
        for (const e of events) {
          if (closed) return;
          res.write(`id: ${e.id}\nevent: ${sseName(e)}\ndata: ${JSON.stringify(sseData(e))}\n\n`);
          lastId = e.id;
        }
      } while (again && !closed);
    })()
      .catch((err) => req.log?.warn({ err }, 'event stream read failed'))
      .finally(() => (pumping = null));
    return pumping;
  };

  const unsubscribe = await hub.subscribe(purchaseId, () => void pump());
  const heartbeat = setInterval(() => {
    res.write(': keep-alive\n\n');
    void pump();
  }, opts.heartbeatMs ?? 15_000);
  req.on('close', () => {
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
  });
  await pump();
}
