// The bench's measuring instruments, in a very short run (the bench itself is not part of the
// tests): its load processes count what they sent and were answered, and its stream watchers
// see a counted call on every stream of that purchase and on no other. A change that broke
// them (an autocannon API, the shape of an SSE event) would otherwise show as a bench figure.
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { admitCall, countCall, createPurchase, markAnswered } from '../../db/ledger/index.js';
import { startMetricsServer } from '../../core/health.js';
import { freePort, gcBetween, machineCpuTimes, root, runLoad, runPaced, runTransactionFloor, runtimeSample, startServer, stealPercent, type ServerProcess } from '../../bench/lib.js';
import { startWatchers } from '../../bench/sse.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let fixture: Awaited<ReturnType<typeof provision>>;
let purchases: string[];
const callers = ['+33612340001', '+33612340002'];

beforeAll(async () => {
  t = await createTestDatabase();
  fixture = await provision(t.db, { numbers: ['+33899777001'], callsRequired: 5, purchaseTtlSeconds: 3600 });
  purchases = [];
  for (const callerNumber of callers) purchases.push((await createPurchase(t.db, fixture.merchant.id, { offerId: fixture.offer.id, callerNumber })).id);
});
afterAll(async () => {
  await t?.drop();
});

describe('bench load processes', () => {
  let baseline: ServerProcess;
  beforeAll(async () => {
    const port = await freePort();
    baseline = await startServer([path.join(root, 'bench/baselines/express.mjs')], { DATABASE_URL: t.url, PORT: String(port), PURCHASE_ID: purchases[0], OFFER_ID: fixture.offer.id }, { port });
  });
  afterAll(async () => {
    await baseline?.stop();
  });

  it('send a paced run at its rate, each request answered and timed', async () => {
    const r = await runPaced({ url: `${baseline.base}/read/${purchases[0]}`, rate: 100, seconds: 1, connections: 4 });
    expect(r).toMatchObject({ requests: 100, non2xx: 0, errors: 0 });
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
    expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
    // A warm-up goes out first at the same pace and stays out of the figures.
    const w = await runPaced({ url: `${baseline.base}/read/${purchases[0]}`, rate: 100, seconds: 0.5, connections: 4, warmupSeconds: 0.5 });
    expect(w).toMatchObject({ requests: 50, warmupRequests: 50, warmupSeconds: 0.5, non2xx: 0, errors: 0 });
    expect(w.seconds).toBeGreaterThan(0.4);
    expect(w.seconds).toBeLessThan(1);
  });

  it('time each transaction of the call decision floor, at its rate', async () => {
    const startedAt = Date.now();
    const ms = await runTransactionFloor({ url: t.url, rate: 20, seconds: 0.5 });
    expect(ms).toHaveLength(10);
    for (const x of ms) expect(x).toBeGreaterThan(0);
    // Started evenly over the half second, after a warm-up, not all at once.
    expect(Date.now() - startedAt).toBeGreaterThan(450);
  });

  it('count what autocannon sent, with a new body for each POST', async () => {
    const get = await runLoad({ url: `${baseline.base}/read/${purchases[0]}`, connections: 2, seconds: 1 });
    expect(get.requests).toBeGreaterThan(0);
    expect(get).toMatchObject({ non2xx: 0, errors: 0 });
    // Unique buyers: a repeated one would break the one-pending-purchase index (a 500 here).
    const post = await runLoad({ url: `${baseline.base}/insert`, method: 'POST', connections: 2, seconds: 1, bodyTemplate: JSON.stringify({ callerNumber: '+33699{{n}}' }) });
    expect(post.requests).toBeGreaterThan(0);
    expect(post).toMatchObject({ non2xx: 0, errors: 0 });
  });
});

describe('bench stream watchers', () => {
  let http: Http;
  beforeAll(async () => {
    http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: undefined, defaultRegion: 'FR', listen: t.listen }));
  });
  afterAll(async () => {
    await http?.close();
  });

  it('see a counted call on every stream of its purchase, and on no other', async () => {
    const watchers = startWatchers(256);
    try {
      const port = Number(new URL(http.base).port);
      const opened = await watchers.ask({ type: 'open', port, apiKey: fixture.merchant.apiKey, purchases, first: 0, count: 6, inFlight: 3, timeoutMs: 10_000 }, 'opened');
      expect(opened).toMatchObject({ opened: 6, refused: {} });

      const caller = callers[0]!;
      await admitCall(t.db, { channelId: 'harness-1', asteriskId: 'bench', dialedRaw: '0899777001', dialed: '+33899777001', callerRaw: caller, caller }, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
      await markAnswered(t.db, 'harness-1');
      await watchers.ask({ type: 'expect', targets: { [purchases[0]!]: 1, [purchases[1]!]: 1 } }, 'expecting');
      const before = performance.timeOrigin + performance.now();
      expect((await countCall(t.db, 'harness-1')).counted).toBe(true);

      let arrivals: { purchaseId: string; at: number | null }[] = [];
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        arrivals = (await watchers.ask({ type: 'collect' }, 'collected')).arrivals;
        if (arrivals.filter((a) => a.at !== null).length >= 3) break;
      }
      const counted = arrivals.filter((a) => a.purchaseId === purchases[0]);
      expect(counted).toHaveLength(3);
      for (const a of counted) expect(a.at).toBeGreaterThan(before);
      expect(arrivals.filter((a) => a.purchaseId === purchases[1]).map((a) => a.at)).toEqual([null, null, null]);
    } finally {
      await watchers.close();
    }
  });
});

describe('bench runtime sample', () => {
  it("reads a process's GC pauses and event-loop delay from its /metrics", async () => {
    const port = await freePort();
    const server = await startMetricsServer(port, '127.0.0.1', pino({ level: 'silent' }));
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      const before = await runtimeSample(url);
      // Garbage enough for a few young-generation collections (prom-client observes them).
      let kept: number[][] = [];
      for (let i = 0; i < 300_000; i++) {
        kept.push([i, i + 1]);
        if (kept.length > 10_000) kept = [];
      }
      await new Promise((r) => setTimeout(r, 50)); // GC observations arrive asynchronously
      const after = await runtimeSample(url);
      const gc = gcBetween(before, after);
      expect(gc.pauses).toBeGreaterThan(0);
      expect(gc.pausedMs).toBeGreaterThan(0);
      expect(gc.over2ms).toBeGreaterThanOrEqual(0);
      expect(gc.over2ms).toBeLessThanOrEqual(gc.pauses);
      expect(after.loopDelayP99Ms).toBeGreaterThanOrEqual(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('bench CPU steal', () => {
  it("reads the machine's steal time from /proc/stat's first line", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const before = machineCpuTimes('cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n');
    const after = machineCpuTimes('cpu  200 0 100 1500 20 0 0 180 0 0\ncpu0 100 0 50 750 10 0 0 90 0 0\n');
    expect(before).toEqual({ total: 1000, steal: 40 });
    expect(stealPercent(before, after)).toBe(14); // 140 of 1,000 ticks
    const live = machineCpuTimes();
    expect(live.total).toBeGreaterThan(0);
    expect(stealPercent(live, live)).toBe(0);
  });
});
