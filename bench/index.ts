// npm run bench [-- api|sse|calls ...] — each path against its baseline, in one run, on this
// machine; prints one table and writes the figures to bench/results/<date>.json with the
// machine's core count and the versions measured. Ratios are the claim, not absolute figures.
//   api    HTTP: GET and POST /v1/purchases against bare Express (bench/api.ts)
//   sse    10,000 live streams on one API process (bench/sse.ts)
//   calls  the IVR against plain dialplan through the real Asterisk (bench/telephony.ts; its
//          parts alone with BENCH_CALLS=decision|throughput|memory; 25-33 min with the
//          defaults, most of it the throughput search: see the top of bench/telephony.ts)
// No argument: api and sse, and calls only if an Asterisk already answers on 127.0.0.1:8088.
// Servers run from the compiled build (npm run bench builds it first). Every run is bounded:
// BENCH_SECONDS (default 8) per measured HTTP run, BENCH_WATCHERS (default 10000) streams.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { runApiBench } from './api.js';
import { apiEntry, machineCpuTimes, root, round, serverUrl, stealPercent, type Row } from './lib.js';
import { runSseBench } from './sse.js';

const PARTS = ['api', 'sse', 'calls'] as const;
type Part = (typeof PARTS)[number];

const asked = process.argv.slice(2);
const unknown = asked.filter((a) => !(PARTS as readonly string[]).includes(a));
if (unknown.length) {
  console.error(`usage: npm run bench [-- ${PARTS.join('|')} ...]  (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}

const log = (line: string) => console.error(line);

/** Any HTTP answer from ARI (even 401) means an Asterisk is up. */
async function asteriskAnswers(): Promise<boolean> {
  try {
    await fetch('http://127.0.0.1:8088/ari/asterisk/info', { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** bench/telephony.ts in its own process; it ends its output with a `BENCH_ROWS <json>` line. */
function runCalls(): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/telephony.ts')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/telephony.ts exited with ${code}`));
      const line = out.split('\n').find((l) => l.startsWith('BENCH_ROWS '));
      resolve(line ? (JSON.parse(line.slice('BENCH_ROWS '.length)) as Row[]) : []);
    });
  });
}

function version(pkg: string): string {
  return (JSON.parse(readFileSync(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

function sippVersion(): string {
  try {
    return /SIPp v?(\S+)/.exec(execFileSync('sipp', ['-v'], { encoding: 'utf8' }))?.[1] ?? '?';
  } catch (err) {
    // sipp -v exits 99 after printing its version.
    const out = (err as { stdout?: string }).stdout ?? '';
    return /SIPp v?(\S+)/.exec(out)?.[1] ?? 'absent';
  }
}

async function machine() {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const [{ server_version: pg } = { server_version: '?' }] = await sql<{ server_version: string }[]>`show server_version`;
  await sql.end();
  const git = (args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    openFilesLimit: Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()),
    kernel: os.release(),
    commit: git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--untracked-files=no']) ? '+uncommitted' : ''),
    versions: {
      node: process.version,
      postgres: pg,
      express: version('express'),
      'postgres.js': version('postgres'),
      'drizzle-orm': version('drizzle-orm'),
      pino: version('pino'),
      autocannon: version('autocannon'),
      'ari-client': version('ari-client'),
      sipp: sippVersion(),
    },
  };
}

const fmt = (n: number | null | undefined, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

function table(rows: Row[]): string {
  // ratio: ops/s over the baseline's; for a latency-only row (calls), the baseline's p50 over its own.
  const lines = ['| path | ops/s | p50 ms | p99 ms | ratio | baseline |', '|---|---:|---:|---:|---:|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.opsPerSec, 0)} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`} | ${r.baseline ?? ''} |`);
  return lines.join('\n');
}

const started = new Date();
const loadAtStart = os.loadavg()[0]!;
const cpuAtStart = machineCpuTimes();
const parts: Part[] = asked.length ? (asked as Part[]) : ['api', 'sse', 'calls'];
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rows: Row[] = [];
const skipped: string[] = [];
for (const part of parts) {
  log(`\n== ${part}`);
  if (part === 'api') rows.push(...(await runApiBench({ seconds, connections: Number(process.env.BENCH_CONNECTIONS ?? 20), fixedRate: Number(process.env.BENCH_RATE ?? 1000), rounds: Number(process.env.BENCH_ROUNDS ?? 3), log })));
  if (part === 'sse') rows.push(...(await runSseBench({ watchers: Number(process.env.BENCH_WATCHERS ?? 10_000), purchases: Number(process.env.BENCH_SSE_PURCHASES ?? 500), log })));
  if (part === 'calls') {
    if (!asked.includes('calls') && !(await asteriskAnswers())) {
      log('  skipped: no Asterisk answers on 127.0.0.1:8088 (npm run bench -- calls starts one)');
      skipped.push('calls');
      continue;
    }
    rows.push(...(await runCalls()));
  }
}

/** Issue 8's goals, checked against this run's rows (absent when their part did not run). */
function goals(): Record<string, { goal: string; measured: string; met: boolean }> {
  const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const out: ReturnType<typeof goals> = {};
  const read = find('sanscode GET /v1/purchases/{id}');
  if (read?.ratio !== undefined) out.statusRead = { goal: '≥ 0.8× Express + one read', measured: `${read.ratio}×`, met: read.ratio >= 0.8 };
  const paced = find('sanscode GET,');
  const pacedFloor = find('bare Express, constant JSON,');
  const pacedBaseline = find('Express + one PK SELECT,');
  const floors = [pacedFloor && `bare Express ${pacedFloor.p99Ms} ms`, pacedBaseline && `Express + one read ${pacedBaseline.p99Ms} ms`].filter(Boolean).join(', ');
  if (paced) out.statusReadP99 = { goal: 'p99 ≤ 10 ms at 1,000 req/s offered', measured: `${paced.p99Ms} ms${floors ? ` (same run, paced alike: ${floors})` : ''}`, met: paced.p99Ms! <= 10 };
  const create = find('sanscode POST /v1/purchases');
  if (create?.ratio !== undefined) out.purchaseCreation = { goal: '≥ 0.5× Express + one INSERT', measured: `${create.ratio}×`, met: create.ratio >= 0.5 };
  // Calls (bench/telephony.ts): issue 8's goals 3, 4 and 5.
  const decision = find('IVR call decision');
  const decisionFloor = find('floor: a transaction');
  const floorText = decisionFloor ? `; same run, a transaction of its shape with trivial statements: p99 ${decisionFloor.p99Ms} ms, p50 ${decisionFloor.p50Ms} ms` : '';
  if (decision) out.callDecisionP99 = { goal: 'call decision p99 ≤ 10 ms at 20 new calls/s (IVR log)', measured: `${decision.p99Ms} ms (p50 ${decision.p50Ms} ms${floorText})`, met: decision.p99Ms! <= 10 };
  const early = find('IVR: INVITE → 183');
  const times = early?.extra?.p50TimesDialplan;
  if (typeof times === 'number') out.earlyMedia = { goal: 'INVITE → first 183 through the IVR ≤ 2× plain dialplan Progress() (p50)', measured: `${times}× (p99 ${String(early!.extra!.p99TimesDialplan)}×)`, met: times <= 2 };
  const answered = find('IVR: answered calls/s');
  if (answered?.ratio !== undefined) {
    const credited = answered.extra?.creditedExactlyOnce === true;
    out.answeredThroughput = { goal: 'answered calls/s held with 0 failures ≥ 0.8× plain dialplan', measured: `${answered.ratio}× (${answered.opsPerSec} vs ${find('plain dialplan: answered')?.opsPerSec} calls/s)`, met: answered.ratio >= 0.8 };
    out.creditedOnce = { goal: 'every IVR call credited exactly once', measured: `${String(answered.extra?.callsCounted)} counted / ${String(answered.extra?.sippSuccessful)} SIPp successful`, met: credited };
  }
  const memory = find('IVR worker RSS');
  const rss = memory?.extra?.rssRatio;
  const lowest = memory?.extra?.rssLowestRatio;
  // RSS swings by tens of MiB between two major collections: what the process keeps is its
  // lowest reading (just after one); the median must not grow either.
  if (typeof rss === 'number' && typeof lowest === 'number')
    out.ivrMemory = {
      goal: 'IVR RSS within ±10% between call 1,000 and call 5,000 (lowest reading over 500 calls, after a major GC; median over them not above +10%)',
      measured: `lowest ${lowest}× (${String(memory!.extra!.rssLowestFirstMiB)} → ${String(memory!.extra!.rssLowestLastMiB)} MiB), median ${rss}× (${String(memory!.extra!.rssFirstMiB)} → ${String(memory!.extra!.rssLastMiB)} MiB); heap snapshots ${String(memory!.extra!.heapGrowthBytesPerCall)} B/call`,
      met: Math.abs(lowest - 1) <= 0.1 && rss <= 1.1,
    };
  const push = find('SSE: a counted call');
  const reached = push?.extra?.reachedWithin200msPct;
  if (typeof reached === 'number') out.livePush = { goal: 'a counted call reaches 99% of its watchers within 200 ms', measured: `${reached}%`, met: reached >= 99 };
  return out;
}

const report = {
  date: started.toISOString(),
  parts,
  skipped,
  settings: { secondsPerRun: seconds, rounds: Number(process.env.BENCH_ROUNDS ?? 3), apiEntry: path.relative(root, apiEntry()) },
  // Other work on the machine moves every figure: its 1-minute load average, before and after,
  // and the CPU time the hypervisor gave other guests over the whole run (%).
  machine: { ...(await machine()), loadAverage: { atStart: round(loadAtStart, 2), atEnd: round(os.loadavg()[0]!, 2) }, stealPct: stealPercent(cpuAtStart, machineCpuTimes()) },
  rows,
  goals: goals(),
};
const dir = path.join(root, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${started.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

console.log(`\nsanscode bench — ${report.date}, ${report.machine.cores} cores, node ${process.version}, PostgreSQL ${report.machine.versions.postgres}\n`);
console.log(table(rows));
for (const r of rows.filter((r) => r.extra && (r.part === 'sse' || r.part === 'calls'))) console.log(`\n${r.name}: ${JSON.stringify(r.extra)}`);
console.log(`\nmachine load (1 min) ${report.machine.loadAverage.atStart} → ${report.machine.loadAverage.atEnd}, CPU steal ${report.machine.stealPct}% over the run; goals:`);
for (const [name, g] of Object.entries(report.goals)) console.log(`  ${g.met ? 'met    ' : 'NOT met'} ${name}: ${g.goal}: ${g.measured}`);
console.log(`\nwritten to ${path.relative(root, file)}${skipped.length ? `; skipped: ${skipped.join(', ')}` : ''}`);
