// `npm run bench -- api`: the HTTP API against Express doing the least possible, in one run.
// Both servers are separate node processes running compiled JavaScript (dist/ and
// bench/baselines/express.mjs); the load comes from a third process: autocannon (20 connections,
// as fast as answered) for throughput, bench/paced.ts for latency at a fixed offered rate. The
// API runs as production does: `node dist/bin/sanscode.js api`, LOG_LEVEL=info, its log written
// to a file. Each row also gives the server's CPU time per request (from /proc), which a
// neighbour's load on a shared machine disturbs less than throughput, and the CPU steal during
// the run (/proc/stat: time the hypervisor gave other guests), which no figure here can see.
//   - GET /v1/purchases/{id} against a constant handler and against one PK SELECT, as fast as
//     answered (ratios), then all three paced at 1,000 req/s (p99 at that load; the constant
//     handler's is the floor the machine and the load process set);
//   - POST /v1/purchases against one INSERT.
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPurchase } from '../db/ledger/index.js';
import { provision } from '../test/support/fixtures.js';
import { apiEntry, createBenchDatabase, freePort, gcBetween, machineCpuTimes, root, round, runLoad, runPaced, runtimeSample, startServer, stealPercent, type LoadResult, type Row, type ServerProcess } from './lib.js';

export interface ApiBenchOptions {
  /** Seconds of each measured run (each path is first warmed up for a quarter of it, at least 1 s). */
  seconds: number;
  connections: number;
  /** Offered rate of the paced runs. */
  fixedRate: number;
  /** Measured runs of each path, alternating with its baseline. */
  rounds: number;
  log: (line: string) => void;
}

/** The median of a few numbers (the middle one, or the mean of the two middle ones). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The API's runtime during one measured run, from its own metrics (per second of the run). */
interface RuntimeOfRun {
  gcPausesPerSecond: number;
  gcPausesOver2msPerSecond: number;
  gcMsPerSecond: number;
  loopDelayP99Ms: number;
}

/** One row from the rounds of one path: medians, every round kept in `extra`. */
function row(name: string, rounds: { r: LoadResult; cpuMsPerRequest: number; stealPct: number; runtime?: RuntimeOfRun | undefined }[], extra: Row['extra'] = {}): Row {
  const of = (f: (x: (typeof rounds)[number]) => number) => median(rounds.map(f));
  const runtimes = rounds.map((x) => x.runtime).filter((x) => x !== undefined);
  // Medians over the rounds, like the other figures.
  const runtime = runtimes.length === rounds.length ? Object.fromEntries((Object.keys(runtimes[0]!) as (keyof RuntimeOfRun)[]).map((k) => [k, median(runtimes.map((x) => x[k]))])) : {};
  return {
    part: 'api',
    name,
    opsPerSec: round(of((x) => x.r.opsPerSec), 0),
    p50Ms: round(of((x) => x.r.p50Ms), 2),
    p99Ms: round(of((x) => x.r.p99Ms), 2),
    extra: {
      ...extra,
      ...runtime,
      cpuMsPerRequest: round(of((x) => x.cpuMsPerRequest), 3),
      stealPct: of((x) => x.stealPct),
      requests: rounds.reduce((n, x) => n + x.r.requests, 0),
      non2xx: rounds.reduce((n, x) => n + x.r.non2xx, 0),
      errors: rounds.reduce((n, x) => n + x.r.errors + x.r.timeouts, 0),
      rounds: rounds.map((x) => `${round(x.r.opsPerSec, 0)}/s p50 ${round(x.r.p50Ms, 2)} p99 ${round(x.r.p99Ms, 2)} cpu ${x.cpuMsPerRequest} steal ${x.stealPct}%${x.runtime ? ` gc ${x.runtime.gcPausesPerSecond}/s (${x.runtime.gcPausesOver2msPerSecond}/s > 2 ms) ${x.runtime.gcMsPerSecond} ms/s loop p99 ${x.runtime.loopDelayP99Ms}` : ''}`).join('; '),
    },
  };
}

function against(measured: Row, baseline: Row): Row {
  return { ...measured, baseline: baseline.name, ratio: round(measured.opsPerSec! / baseline.opsPerSec!, 2) };
}

export async function runApiBench(opts: ApiBenchOptions): Promise<Row[]> {
  const db = await createBenchDatabase();
  const stops: (() => Promise<void>)[] = [];
  try {
    const { merchant, offer } = await provision(db.db, { numbers: ['+33899999001'], callsRequired: 20, purchaseTtlSeconds: 86_400 });
    const purchase = await createPurchase(db.db, merchant.id, { offerId: offer.id, callerNumber: '+33612345678' });

    const apiPort = await freePort();
    const metricsPort = await freePort();
    const apiLog = path.join(tmpdir(), `sanscode-bench-api-${process.pid}.log`);
    const api = await startServer(
      [apiEntry(), 'api'],
      { DATABASE_URL: db.url, PORT: String(apiPort), HOST: '127.0.0.1', LOG_LEVEL: 'info', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' },
      { port: apiPort, logFile: apiLog },
    );
    stops.push(api.stop);
    const basePort = await freePort();
    const base = await startServer([path.join(root, 'bench/baselines/express.mjs')], { DATABASE_URL: db.url, PORT: String(basePort), PURCHASE_ID: purchase.id, OFFER_ID: offer.id }, { port: basePort });
    stops.push(base.stop);

    const auth = { authorization: `Bearer ${merchant.apiKey}` };
    const warmupSeconds = Math.max(1, Math.round(opts.seconds / 4));
    let bodies = 0;
    type Run = (seconds: number) => Promise<LoadResult>;
    /**
     * A measured run, with the CPU time the server used during it, per request. For the API,
     * also what its own metrics say about the run: GC pauses (a request that arrives during one
     * waits it out, which is what a p99 at a fixed rate shows) and the event loop's delay p99.
     */
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const measure = async (name: string, server: ServerProcess, run: Run) => {
      const cpuBefore = server.cpuSeconds();
      const machineBefore = machineCpuTimes();
      const runtimeBefore = server === api ? await runtimeSample(metricsUrl) : null;
      const r = await run(opts.seconds);
      // A paced run's warm-up is inside these readings: its requests count too.
      const served = r.requests + (r.warmupRequests ?? 0);
      const runSeconds = r.seconds + (r.warmupSeconds ?? 0);
      const cpuMsPerRequest = round(((server.cpuSeconds() - cpuBefore) * 1000) / Math.max(1, served), 3);
      const stealPct = stealPercent(machineBefore, machineCpuTimes());
      let runtime: RuntimeOfRun | undefined;
      if (runtimeBefore) {
        const after = await runtimeSample(metricsUrl);
        const gc = gcBetween(runtimeBefore, after);
        runtime = { gcPausesPerSecond: round(gc.pauses / runSeconds, 1), gcPausesOver2msPerSecond: round(gc.over2ms / runSeconds, 1), gcMsPerSecond: round(gc.pausedMs / runSeconds, 1), loopDelayP99Ms: round(after.loopDelayP99Ms, 1) };
      }
      const gcText = runtime ? `; GC ${runtime.gcPausesPerSecond} pauses/s (${runtime.gcPausesOver2msPerSecond}/s over 2 ms), ${runtime.gcMsPerSecond} ms/s paused, event-loop delay p99 ${runtime.loopDelayP99Ms} ms` : '';
      opts.log(`    ${name}: ${round(r.opsPerSec, 0)} req/s, p50 ${round(r.p50Ms, 2)} ms, p99 ${round(r.p99Ms, 2)} ms, server CPU ${cpuMsPerRequest} ms/request, CPU steal ${stealPct}%${gcText}${r.non2xx || r.errors ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : ''}`);
      return { r, cpuMsPerRequest, stealPct, runtime };
    };
    /**
     * A path against its baseline: each warmed up once, then measured in alternation, `rounds`
     * times, so that a neighbour's load on this shared machine falls on both alike.
     */
    const compare = async (pair: [string, ServerProcess, Run][]) => {
      opts.log(`  ${pair.map(([name]) => name).join(' / ')} …`);
      for (const [, , run] of pair) await run(warmupSeconds);
      // The bench's database is minutes old and fills at thousands of rows a second: the
      // statistics PostgreSQL plans by still say "empty", autovacuum's next look is up to a
      // minute away (autovacuum_naptime), and a plan cached while a table was empty (a
      // sequential scan) is kept until they change. A living database is analysed as it grows.
      await db.db.execute(sql`analyze`);
      const results = pair.map(() => [] as Awaited<ReturnType<typeof measure>>[]);
      for (let i = 0; i < opts.rounds; i++) for (const [k, [name, server, run]] of pair.entries()) results[k]!.push(await measure(name, server, run));
      return pair.map(([name], k) => row(name, results[k]!));
    };

    const c = opts.connections;
    const get = (url: string, headers: Record<string, string> = {}): Run => (seconds) => runLoad({ url, headers, connections: c, seconds });
    // Each paced round first sends 2 s at its pace, unmeasured, from the same client (paced.ts says why).
    const pacedWarmupSeconds = 2;
    const paced = (url: string, headers: Record<string, string> = {}): Run => (seconds) => runPaced({ url, headers, rate: opts.fixedRate, connections: 64, seconds, warmupSeconds: pacedWarmupSeconds });
    // Every POST creates a purchase for a new buyer: the two digits after +336 are new for each run.
    const post = (url: string, headers: Record<string, string> = {}): Run => (seconds) =>
      runLoad({ url, headers, connections: c, seconds, method: 'POST', bodyTemplate: JSON.stringify({ offerId: offer.id, callerNumber: `+336${String(++bodies).padStart(2, '0')}{{n}}`, reference: 'bench' }) });
    const constantUrl = `${base.base}/constant/${purchase.id}`;
    const readUrl = `${base.base}/read/${purchase.id}`;
    const apiUrl = `${api.base}/v1/purchases/${purchase.id}`;

    const [constant, oneRead, read] = await compare([
      ['bare Express, constant JSON (GET)', base, get(constantUrl)],
      ['Express + one PK SELECT (GET)', base, get(readUrl)],
      ['sanscode GET /v1/purchases/{id}', api, get(apiUrl, auth)],
    ]);
    // The constant handler paced too: the p99 this machine and the load process give a server
    // that does nothing, the floor under the other two.
    const [constantPaced, oneReadPaced, readPaced] = await compare([
      [`bare Express, constant JSON, ${opts.fixedRate} req/s paced`, base, paced(constantUrl)],
      [`Express + one PK SELECT, ${opts.fixedRate} req/s paced`, base, paced(readUrl)],
      [`sanscode GET, ${opts.fixedRate} req/s paced`, api, paced(apiUrl, auth)],
    ]);
    const [oneInsert, create] = await compare([
      ['Express + one INSERT (POST)', base, post(`${base.base}/insert`)],
      ['sanscode POST /v1/purchases', api, post(`${api.base}/v1/purchases`, auth)],
    ]);

    // Logging stayed on: one line per request answered (plus start-up lines).
    const logLines = readFileSync(apiLog, 'utf8').split('\n').length - 1;
    return [
      constant!,
      against(oneRead!, constant!),
      against(read!, oneRead!),
      constantPaced!,
      oneReadPaced!,
      { ...readPaced!, baseline: oneReadPaced!.name, extra: { ...readPaced!.extra, apiLogLines: logLines } },
      oneInsert!,
      against(create!, oneInsert!),
    ];
  } finally {
    for (const stop of stops.reverse()) await stop();
    await db.drop();
  }
}
