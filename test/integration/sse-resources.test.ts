// Live streams hold nothing once their client is gone, however early it leaves, and their
// number is bounded per purchase and per process. The streams of a purchase share one read of
// the event log per wake-up, each stream getting exactly what it misses.
import { sql } from 'drizzle-orm';
import type { Response } from 'express';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi, liveStats } from '../../api/app.js';
import { PurchaseEventHub } from '../../api/live.js';
import { EVENTS_CHANNEL, countCall, endCall, eventsSince } from '../../db/ledger/index.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { openSse, type SseStream } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

// Counts the event-log reads of each purchase (the real function does the reading).
const readsOf = new Map<string, number>();
vi.mock('../../db/ledger/index.js', async (importOriginal) => {
  const ledger = await importOriginal<typeof import('../../db/ledger/index.js')>();
  return {
    ...ledger,
    eventsSince: (...args: Parameters<typeof ledger.eventsSince>) => {
      readsOf.set(args[1], (readsOf.get(args[1]) ?? 0) + 1);
      return ledger.eventsSince(...args);
    },
  };
});

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

/** An API with a merchant, a caller-ID offer and `purchases` purchases. */
/** Buyers' numbers, distinct across the file: at most 5 purchases per number and hour (issue 13). */
let nextBuyer = 0;

async function setUp(stream: Parameters<typeof createApi>[0]['stream'], purchases: number) {
  const app = createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen, stream, authFailuresPerMinute: 1000 });
  const http = await listen(app);
  const merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Streams' } })).body;
  const number = `089940${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;
  const offer = (
    await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: [number], purchaseTtlSeconds: 600, language: 'fr' },
    })
  ).body;
  const bought: { id: string; clientToken: string }[] = [];
  const firstBuyer = nextBuyer;
  nextBuyer += purchases;
  for (let i = 0; i < purchases; i++) {
    const res = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: `0655${String(firstBuyer + i).padStart(6, '0')}` } });
    expect(res.status).toBe(201);
    bought.push(res.body);
  }
  /** The buyer of purchase `i` calls and is answered; the call stays in progress, uncounted. */
  const answerCall = (i: number) => simulateCall(t.db, { dialed: `+33${number.slice(1)}`, caller: `+33655${String(firstBuyer + i).padStart(6, '0')}`, count: false });
  return { app, http, apiKey: merchant.apiKey as string, purchases: bought, answerCall };
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Connects, sends the request, and destroys the socket `delayMs` after connecting. */
function connectAndAbort(port: number, request: string, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(request);
      setTimeout(() => socket.destroy(), delayMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}

describe('aborted event streams', () => {
  it('leave no stream, subscription, timer or read behind after 200 aborted connections to each endpoint', async () => {
    const { app, http, apiKey, purchases } = await setUp({ heartbeatMs: 100 }, 1);
    const p = purchases[0]!;
    try {
      // Warm up: the LISTEN connection and the client-token key exist before the baseline.
      const warm = await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`);
      await warm.take(1);
      warm.close();
      await waitFor(() => `no stream left, hub holds ${JSON.stringify(liveStats(app))}`, () => liveStats(app).streams === 0);
      const baselineTimers = timers();

      const port = Number(new URL(http.base).port);
      const requests = [
        `GET /v1/purchases/${p.id}/events HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${apiKey}\r\nAccept: text/event-stream\r\n\r\n`,
        `GET /v1/client/events?token=${p.clientToken} HTTP/1.1\r\nHost: api\r\nAccept: text/event-stream\r\n\r\n`,
      ];
      for (const request of requests) {
        for (let batch = 0; batch < 200; batch += 20) {
          await Promise.all(Array.from({ length: 20 }, (_, i) => connectAndAbort(port, request, (batch + i) % 6)));
        }
      }

      const idle = () => {
        const s = liveStats(app);
        return s.streams === 0 && s.subscriptions === 0 && s.timers === 0 && s.reads === 0;
      };
      // Requests still queued behind the database may open (and at once close) a stream after
      // the sockets are gone; what matters is that the hub then stays idle for several
      // heartbeats: a leaked heartbeat would tick (and read) every 100 ms forever.
      let idleSince = Infinity;
      await waitFor(
        () => `the hub to stay idle, live streams hold ${JSON.stringify(liveStats(app))}`,
        () => {
          if (!idle()) idleSince = Infinity;
          else idleSince = Math.min(idleSince, Date.now());
          return Date.now() - idleSince >= 500;
        },
      );
      expect(timers()).toBeLessThanOrEqual(baselineTimers + 10);

      // The endpoint still serves a client that stays.
      const stream = await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`);
      expect((await stream.take(1))[0]!.data.purchaseId).toBe(p.id);
      expect(liveStats(app)).toMatchObject({ streams: 1, subscriptions: 1, timers: 1 });
      stream.close();
      await waitFor(() => `the hub to be idle, it holds ${JSON.stringify(liveStats(app))}`, idle);
    } finally {
      await http.close();
    }
  });
});

describe('stream bounds', () => {
  it('answers 429 past the streams of one purchase and 503 + Retry-After past those of the process', async () => {
    const { app, http, apiKey, purchases } = await setUp({ maxPerPurchase: 2, maxPerProcess: 3 }, 3);
    const [a, b, c] = [purchases[0]!, purchases[1]!, purchases[2]!];
    const open: SseStream[] = [];
    const clientStream = (p: { clientToken: string }) => openSse(`${http.base}/v1/client/events?token=${p.clientToken}`);
    try {
      open.push(await clientStream(a));
      open.push(await openSse(`${http.base}/v1/purchases/${a.id}/events`, { authorization: `Bearer ${apiKey}` }));
      expect(open.map((s) => s.status)).toEqual([200, 200]);

      const perPurchase = await http.request('GET', `/v1/client/events?token=${a.clientToken}`);
      expect(perPurchase.status).toBe(429);
      expect(perPurchase.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(perPurchase.body).toMatchObject({ status: 429, type: 'urn:sanscode:problem:too-many-streams' });

      open.push(await clientStream(b));
      expect(open[2]!.status).toBe(200);
      const perProcess = await http.request('GET', `/v1/client/events?token=${c.clientToken}`);
      expect(perProcess.status).toBe(503);
      expect(perProcess.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(perProcess.body).toMatchObject({ status: 503, type: 'urn:sanscode:problem:too-many-streams' });
      expect(liveStats(app).streams).toBe(3);

      // A stream that ends frees its place at once.
      open.shift()!.close();
      await waitFor(() => `2 streams, hub holds ${JSON.stringify(liveStats(app))}`, () => liveStats(app).streams === 2);
      open.push(await clientStream(c));
      expect(open[2]!.status).toBe(200);
    } finally {
      for (const s of open) s.close();
      await http.close();
    }
  });

  it('allows five streams of a purchase by default', async () => {
    const { http, purchases } = await setUp(undefined, 1);
    const p = purchases[0]!;
    const open: SseStream[] = [];
    try {
      for (let i = 0; i < 5; i++) open.push(await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`));
      expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
      expect((await http.request('GET', `/v1/client/events?token=${p.clientToken}`)).status).toBe(429);
    } finally {
      for (const s of open) s.close();
      await http.close();
    }
  });
});

describe('streams of one purchase', () => {
  const idle = (app: Parameters<typeof liveStats>[0]) => () => liveStats(app).reads === 0;

  it('read the event log once per NOTIFY, whatever their number', async () => {
    // No heartbeat during the test: the only reads are the wake-ups'.
    const { app, http, purchases } = await setUp({ heartbeatMs: 600_000, maxPerPurchase: 8 }, 1);
    const p = purchases[0]!;
    const open: SseStream[] = [];
    try {
      for (let i = 0; i < 8; i++) open.push(await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`));
      await Promise.all(open.map((s) => s.take(1)));
      await waitFor('the joins\' reads to end', idle(app));
      expect(liveStats(app)).toMatchObject({ streams: 8, subscriptions: 8, timers: 1 });
      readsOf.delete(p.id);

      await t.db.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${p.id})`);
      await waitFor(() => `a read for the NOTIFY, ${readsOf.get(p.id) ?? 0} so far`, () => (readsOf.get(p.id) ?? 0) >= 1 && liveStats(app).reads === 0);
      // A second NOTIFY is read after the first has certainly been handled: one more read.
      await t.db.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${p.id})`);
      await waitFor(() => `a read for the second NOTIFY, ${readsOf.get(p.id) ?? 0} so far`, () => (readsOf.get(p.id) ?? 0) >= 2 && liveStats(app).reads === 0);
      expect(readsOf.get(p.id)).toBe(2);
    } finally {
      for (const s of open) s.close();
      await http.close();
    }
  });

  it('give each stream exactly the events after its own Last-Event-ID, before and after a shared read', async () => {
    const { app, http, purchases, answerCall } = await setUp({ heartbeatMs: 600_000, maxPerPurchase: 10 }, 1);
    const p = purchases[0]!;
    const url = `${http.base}/v1/client/events?token=${p.clientToken}`;
    const open: SseStream[] = [];
    try {
      const { facts } = await answerCall(0); // one more event to resume from
      const before = (await eventsSince(t.db, p.id, 0)).map((e) => e.id);
      expect(before.length).toBeGreaterThanOrEqual(2);

      // A stream from the start, then streams at every position, opened together so their
      // first reads are shared: each takes its own suffix, and the first gets no repeat.
      const fromStart = await openSse(url);
      expect((await fromStart.take(before.length)).map((e) => Number(e.id))).toEqual(before);
      const resumed = await Promise.all(before.map((id) => openSse(url, { 'last-event-id': String(id) })));
      open.push(fromStart, ...resumed);
      await waitFor('the joins\' reads to end', idle(app));

      // One call counted: every stream, wherever it stood, ends with the whole log after its position.
      expect(await countCall(t.db, facts.channelId)).toMatchObject({ counted: true });
      await endCall(t.db, facts.channelId, { cause: 16, causeText: 'Normal Clearing' });
      const all = (await eventsSince(t.db, p.id, 0)).map((e) => e.id);
      expect(all.length).toBeGreaterThan(before.length);
      const expected = [all, ...before.map((id) => all.filter((x) => x > id))];
      for (const [i, stream] of open.entries()) {
        expect((await stream.take(expected[i]!.length)).map((e) => Number(e.id))).toEqual(expected[i]);
      }
      await waitFor('the reads to end', idle(app));
      for (const [i, stream] of open.entries()) await expect(stream.take(expected[i]!.length + 1, 300)).rejects.toThrow(/expected/);
    } finally {
      for (const s of open) s.close();
      await http.close();
    }
  });
});

describe('a slow client', () => {
  /** A response whose socket buffer is full (`write` answers false) or not, recording what it is given. */
  function fakeResponse(bufferFull: boolean) {
    const res = Object.assign(new EventEmitter(), { destroyed: false, writableEnded: false, socket: null, written: [] as string[] });
    return Object.assign(res, {
      write: (chunk: string) => {
        res.written.push(chunk);
        return !bufferFull;
      },
    });
  }
  const ids = (chunks: string[]) => [...chunks.join('').matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

  it('is skipped while its buffer is full, without holding up the others, and catches up on drain', async () => {
    const { http, purchases, answerCall } = await setUp(undefined, 1);
    await http.close();
    const p = purchases[0]!;
    const hub = new PurchaseEventHub(t.listen, pino({ level: 'silent' }), { heartbeatMs: 600_000 });
    const slow = fakeResponse(true);
    const fast = fakeResponse(false);
    const leaveSlow = hub.join(t.db, p.id, slow as unknown as Response, 0);
    const leaveFast = hub.join(t.db, p.id, fast as unknown as Response, 0);
    try {
      await hub.catchUp(p.id);
      const created = (await eventsSince(t.db, p.id, 0)).map((e) => e.id);
      expect([ids(slow.written), ids(fast.written)]).toEqual([created, created]);

      await answerCall(0); // new events while the slow client's buffer is full
      await hub.catchUp(p.id);
      const all = (await eventsSince(t.db, p.id, 0)).map((e) => e.id);
      expect(all.length).toBeGreaterThan(created.length);
      expect(ids(fast.written)).toEqual(all);
      expect(ids(slow.written)).toEqual(created);

      slow.emit('drain'); // its buffer emptied: it gets what it missed, once
      await waitFor('the catch-up read to end', () => hub.stats().reads === 0 && ids(slow.written).length === all.length);
      expect(ids(slow.written)).toEqual(all);
      expect(ids(fast.written)).toEqual(all);
    } finally {
      leaveSlow();
      leaveFast();
    }
    expect(hub.stats()).toEqual({ streams: 0, subscriptions: 0, timers: 0, reads: 0 });
  });
});
