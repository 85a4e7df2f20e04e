// Live streams hold nothing once their client is gone, however early it leaves, and their
// number is bounded per purchase and per process.
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, liveStats } from '../../api/app.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { openSse, type SseStream } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

/** An API with a merchant, a caller-ID offer and `purchases` purchases. */
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
  for (let i = 0; i < purchases; i++) {
    const res = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: `0655${String(i).padStart(6, '0')}` } });
    expect(res.status).toBe(201);
    bought.push(res.body);
  }
  return { app, http, apiKey: merchant.apiKey as string, purchases: bought };
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
