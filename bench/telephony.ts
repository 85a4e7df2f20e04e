// npm run bench -- calls — the IVR against plain dialplan, through the real Asterisk (run by
// bench/index.ts in a process of its own; its last line hands the rows to the table).
// Measures, with SIPp's response-time counter, the time from INVITE to the first 183 (early
// media) of a call that must be refused unanswered:
//   - IVR: Stasis → ari-client → ledger transaction (decision under lock, call row) → progress;
//   - plain dialplan: the same dialplan with no Stasis application registered, so it falls
//     through to Progress() at once (extensions.conf, the IVR-down fallback).
// Same SIPp load for both, in one run. Needs PostgreSQL and builds/starts Asterisk if needed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../core/config.js';
import { startIvr } from '../ivr/worker.js';
import { asterisk } from '../test/support/asterisk.js';
import { createTestDatabase } from '../test/support/db.js';
import { percentile, type Row } from './lib.js';

const CALLS = Number(process.env.BENCH_SIP_CALLS ?? 30);
const scenario = path.resolve(import.meta.dirname, '../test/sipp/uac-not-answered.xml');

/** Runs CALLS refused calls (10 at a time, 5 new per second); returns ms to the first 183. */
async function timeToEarlyMedia(port: number): Promise<number[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-bench-'));
  writeFileSync(path.join(dir, 'callers.csv'), 'SEQUENTIAL\n33612345678;\n');
  const args = ['-sf', scenario, '-inf', 'callers.csv', '-s', '0899999999', '127.0.0.1:5060', '-i', '127.0.0.1', '-p', String(port)];
  args.push('-m', String(CALLS), '-l', '10', '-r', '5', '-recv_timeout', '30000', '-nostdin', '-trace_rtt', '-rtt_freq', '1');
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? -1));
  });
  if (code !== 0) throw new Error(`sipp exited with ${code} (some calls were answered or failed); see ${dir}`);
  const file = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (!file) throw new Error(`no SIPp rtt file in ${dir}`);
  // Lines: Date_ms;response_time_ms;rtd_no (whole milliseconds).
  return readFileSync(path.join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => Number(line.split(';')[1]))
    .filter((n) => Number.isFinite(n));
}

function summary(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
  return `${name.padEnd(44)} ${String(s.length).padStart(4)} calls   p50 ${at(0.5).toFixed(1).padStart(6)} ms   p99 ${at(0.99).toFixed(1).padStart(6)} ms`;
}

await asterisk('start');
const t = await createTestDatabase();
try {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const ivr = await startIvr(t.db, config, pino({ level: 'silent' }));
  const viaIvr = await timeToEarlyMedia(5400);
  await ivr.stop();
  for (let i = 0; i < 50 && (await asterisk('rx', 'ari show apps')).includes(config.ARI_APP); i++) await new Promise((r) => setTimeout(r, 100));
  const viaDialplan = await timeToEarlyMedia(5402);
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`\nTime from INVITE to early media (183) of a refused call, SIPp, ${CALLS} calls each, 10 at a time:\n`);
  console.log(summary('IVR (Stasis, ledger transaction, progress)', viaIvr));
  console.log(summary('plain dialplan (Progress() fallback)', viaDialplan));
  console.log(`\nIVR median / dialplan median: ${(median(viaIvr) / median(viaDialplan)).toFixed(1)}×`);
  // For bench/index.ts's table: latency rows (no throughput); ratio = dialplan p50 / IVR p50.
  const rowOf = (name: string, ms: number[]): Row => {
    const s = [...ms].sort((a, b) => a - b);
    return { part: 'calls', name, opsPerSec: null, p50Ms: percentile(s, 0.5), p99Ms: percentile(s, 0.99), extra: { calls: s.length } };
  };
  const dialplanRow = rowOf('plain dialplan: INVITE → 183 (Progress() fallback)', viaDialplan);
  const ivrRow = { ...rowOf('IVR: INVITE → 183 of a refused call (Stasis + ledger)', viaIvr), baseline: dialplanRow.name, ratio: Math.round((100 * median(viaDialplan)) / median(viaIvr)) / 100 };
  console.log(`BENCH_ROWS ${JSON.stringify([dialplanRow, ivrRow])}`);
} finally {
  await t.drop();
}
