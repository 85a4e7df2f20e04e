// `npm run bench -- sse`: one API process (compiled, LOG_LEVEL=info) holding 10,000 live streams
// spread over 500 purchases, opened and watched by another process (bench/sse-watchers.ts).
// This process counts calls through the ledger, as the IVR does (admitCall, markAnswered,
// countCall: one transaction each, under the purchase lock), and measures:
//   - accept: how fast new streams are admitted (streams/s, time to the 200);
//   - memory: the API process's RSS growth per stream held;
//   - delivery: from a count's commit to each watcher of that purchase seeing the new count,
//     one call at a time, then one call on every purchase at once.
// The per-process and per-purchase stream bounds (MAX_STREAMS_PER_PROCESS, default 1000;
// MAX_STREAMS_PER_PURCHASE, default 5) are raised for this run by their environment variables.
import { fork } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { admitCall, countCall, createPurchase, markAnswered } from '../db/ledger/index.js';
import { provision } from '../test/support/fixtures.js';
import { apiEntry, createBenchDatabase, fileLimitShell, freePort, percentile, root, round, sleep, startServer, type Row } from './lib.js';
import type { WatcherCommand, WatcherReply } from './sse-watchers.js';

export interface SseBenchOptions {
  watchers: number;
  purchases: number;
  log: (line: string) => void;
}

const DIALED = '+33899999001';
/** The goal: a counted call reaches 99% of its watchers within this long of its commit. */
const DELIVERY_GOAL_MS = 200;
const now = () => performance.timeOrigin + performance.now();

/** The watchers' process (bench/sse-watchers.ts), with a file limit that fits its sockets. */
export function startWatchers(fileLimit: number) {
  const raise = fileLimitShell(fileLimit);
  const execArgv = ['--import', 'tsx'];
  const child = fork(path.join(root, 'bench/sse-watchers.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(raise ? { execPath: raise[0], execArgv: [...raise.slice(1), ...execArgv] } : { execArgv }),
  });
  const replies: WatcherReply[] = [];
  const waiting: ((r: WatcherReply) => void)[] = [];
  child.on('message', (r: WatcherReply) => (waiting.length ? waiting.shift()!(r) : replies.push(r)));
  const ask = <T extends WatcherReply['type']>(cmd: WatcherCommand, type: T): Promise<Extract<WatcherReply, { type: T }>> => {
    child.send(cmd);
    return new Promise((resolve, reject) => {
      const take = (r: WatcherReply) => (r.type === type ? resolve(r as Extract<WatcherReply, { type: T }>) : reject(new Error(`watchers answered ${r.type}, not ${type}`)));
      if (replies.length) take(replies.shift()!);
      else waiting.push(take);
    });
  };
  const close = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.send({ type: 'close' } satisfies WatcherCommand);
    });
  return { ask, close };
}

/** Delivery latencies (ms) of one round: each stream's arrival against its purchase's commit. */
function deliveries(arrivals: { purchaseId: string; at: number | null }[], committedAt: Map<string, number>) {
  const ms = arrivals.filter((a) => a.at !== null).map((a) => a.at! - committedAt.get(a.purchaseId)!);
  return { ms, missing: arrivals.length - ms.length, watchers: arrivals.length };
}

function deliveryRow(name: string, rounds: ReturnType<typeof deliveries>[]): Row {
  const ms = rounds.flatMap((r) => r.ms).sort((a, b) => a - b);
  const watchers = rounds.reduce((n, r) => n + r.watchers, 0);
  const missing = rounds.reduce((n, r) => n + r.missing, 0);
  const inTime = ms.filter((m) => m <= DELIVERY_GOAL_MS).length;
  return {
    part: 'sse',
    name,
    opsPerSec: null,
    p50Ms: round(percentile(ms, 0.5)),
    p99Ms: round(percentile(ms, 0.99)),
    extra: { watchersExpected: watchers, missing, maxMs: round(ms.at(-1) ?? NaN), [`reachedWithin${DELIVERY_GOAL_MS}msPct`]: round((100 * inTime) / Math.max(1, watchers), 2) },
  };
}

export async function runSseBench(opts: SseBenchOptions): Promise<Row[]> {
  const db = await createBenchDatabase();
  const stops: (() => Promise<void>)[] = [];
  try {
    const perPurchase = Math.ceil(opts.watchers / opts.purchases);
    const { merchant, offer } = await provision(db.db, { numbers: [DIALED], callsRequired: 20, minCallSeconds: 0, purchaseTtlSeconds: 86_400 });
    const callers: string[] = [];
    const purchaseIds: string[] = [];
    for (let i = 0; i < opts.purchases; i++) {
      callers.push(`+336${String(20_000_000 + i)}`);
      purchaseIds.push((await createPurchase(db.db, merchant.id, { offerId: offer.id, callerNumber: callers[i]! })).id);
    }
    const callerOf = new Map(purchaseIds.map((id, i) => [id, callers[i]!]));

    const port = await freePort();
    const fileLimit = opts.watchers + 1024;
    const api = await startServer(
      [apiEntry(), 'api'],
      {
        DATABASE_URL: db.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        MAX_STREAMS_PER_PROCESS: String(opts.watchers + 100),
        MAX_STREAMS_PER_PURCHASE: String(perPurchase + 5),
      },
      { port, logFile: path.join(tmpdir(), `sanscode-bench-sse-${process.pid}.log`), fileLimit },
    );
    stops.push(api.stop);
    const watchers = startWatchers(fileLimit);
    stops.push(watchers.close);
    let first = 0;
    const open = async (count: number) => {
      const r = await watchers.ask({ type: 'open', port, apiKey: merchant.apiKey, purchases: purchaseIds, first, count, inFlight: 100, timeoutMs: 30_000 }, 'opened');
      first += count;
      return r;
    };

    // Warm-up (JIT, pools, LISTEN): streams that stay open, so RSS is read with a live hub.
    const warm = await open(Math.min(200, opts.watchers));
    await sleep(1000);
    const rssBefore = api.rssBytes();
    opts.log(`  opening ${opts.watchers - warm.opened} streams over ${opts.purchases} purchases …`);
    const opened = await open(opts.watchers - warm.opened);
    await sleep(2000);
    const rssAfter = api.rssBytes();
    const held = warm.opened + opened.opened;
    const openMs = [...opened.openMs].sort((a, b) => a - b);
    const perStreamKiB = round((rssAfter - rssBefore) / 1024 / Math.max(1, opened.opened), 1);
    opts.log(`    ${opened.opened} opened in ${round(opened.seconds)} s (${round(opened.opened / opened.seconds, 0)}/s), refused ${JSON.stringify(opened.refused)}, RSS +${round((rssAfter - rssBefore) / 2 ** 20)} MiB (${perStreamKiB} KiB a stream)`);
    const accept: Row = {
      part: 'sse',
      name: `SSE: open a stream (${held} held at the end)`,
      opsPerSec: round(opened.opened / opened.seconds, 0),
      p50Ms: round(percentile(openMs, 0.5)),
      p99Ms: round(percentile(openMs, 0.99)),
      extra: {
        streamsHeld: held,
        purchases: opts.purchases,
        refused: JSON.stringify(opened.refused),
        inFlightOpens: 100,
        apiRssBeforeMiB: round(rssBefore / 2 ** 20),
        apiRssAfterMiB: round(rssAfter / 2 ** 20),
        rssPerStreamKiB: perStreamKiB,
        MAX_STREAMS_PER_PROCESS: opts.watchers + 100,
        MAX_STREAMS_PER_PURCHASE: perPurchase + 5,
      },
    };

    let channel = 0;
    const counted = new Map<string, number>();
    /** A call answered on each purchase (its page shows "call in progress"), not yet counted. */
    const answerCalls = async (ids: string[]) => {
      const channels = new Map<string, string>();
      for (const id of ids) {
        const channelId = `bench-${++channel}`;
        const caller = callerOf.get(id)!;
        const { admission } = await admitCall(db.db, { channelId, asteriskId: 'bench', dialedRaw: '0899999001', dialed: DIALED, callerRaw: caller, caller }, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
        if (admission.action !== 'answer') throw new Error(`bench call on ${id} not answered: ${JSON.stringify(admission)}`);
        await markAnswered(db.db, channelId);
        channels.set(id, channelId);
      }
      return channels;
    };
    /** Counts the calls (at most `concurrency` transactions at once); each purchase's commit time. */
    const countCalls = async (channels: Map<string, string>, concurrency: number) => {
      const committedAt = new Map<string, number>();
      const queue = [...channels];
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const [id, channelId] = next;
            const result = await countCall(db.db, channelId);
            committedAt.set(id, now());
            if (!result.counted) throw new Error(`bench call on ${id} not counted: ${JSON.stringify(result)}`);
          }
        }),
      );
      return committedAt;
    };
    const round_ = async (ids: string[], concurrency: number, waitMs: number) => {
      const channels = await answerCalls(ids);
      await sleep(500); // the "call started" events reach the watchers first
      const targets = Object.fromEntries(ids.map((id) => [id, (counted.get(id) ?? 0) + 1]));
      await watchers.ask({ type: 'expect', targets }, 'expecting');
      const committedAt = await countCalls(channels, concurrency);
      for (const id of ids) counted.set(id, targets[id]!);
      await sleep(waitMs);
      return deliveries((await watchers.ask({ type: 'collect' }, 'collected')).arrivals, committedAt);
    };

    const singleRounds = Number(process.env.BENCH_SSE_ROUNDS ?? 10);
    opts.log(`  ${singleRounds} calls counted one at a time …`);
    const single: ReturnType<typeof deliveries>[] = [];
    for (let i = 0; i < singleRounds; i++) single.push(await round_([purchaseIds[(i * 37) % purchaseIds.length]!], 1, 1000));
    opts.log(`  one call counted on each of the ${opts.purchases} purchases at once …`);
    const burst = await round_(purchaseIds, 10, 5000);

    const singleRow = deliveryRow(`SSE: a counted call → its ${perPurchase} watchers (${singleRounds} calls, ${held} streams open)`, single);
    const burstRow = deliveryRow(`SSE: ${opts.purchases} calls counted at once → all ${held} watchers`, [burst]);
    for (const r of [singleRow, burstRow]) opts.log(`    ${r.name}: p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${JSON.stringify(r.extra)}`);
    return [accept, singleRow, burstRow];
  } finally {
    for (const stop of stops.reverse()) await stop();
    await db.drop();
  }
}
