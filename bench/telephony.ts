// npm run bench -- calls — the IVR against plain dialplan, through the real Asterisk, with SIPp
// placing the calls from a process of its own and the IVR running as its own process from the
// compiled build (`sanscode ivr`, logging at info), as in production. Run by bench/index.ts in
// a process of its own; its last line hands the rows to the table. Three parts, each alone
// with BENCH_CALLS=decision|throughput|memory (comma-separated; default all three):
//
// decision   Unanswered calls at BENCH_DECISION_RATE (20) new calls/s, BENCH_DECISION_CALLS
//            (600) per flow, in 3 alternating rounds: the caller hangs up (CANCEL) 300 ms after
//            the first 183. IVR: a caller_id caller with a pending purchase, so the full decision
//            runs (number, purchase under lock, calls in progress, identity, call row); the IVR
//            sends its 183 as the call arrives, the decision made alongside, then the identity
//            prompt. Baseline: a bench extension whose dialplan sends Progress() at once.
//            Measures SIPp's INVITE → first 183, and the IVR's own decisionMs (StasisStart →
//            decision made, from its 'call decision' lines). Alongside each IVR round, the
//            floor under decisionMs: a transaction of the decision's shape, trivial statements,
//            at the same rate from a process of its own (bench/transaction-floor.ts).
// throughput Answered calls held to their end: the IVR's one-call caller_id purchase (identity
//            prompt as early media, answer, greeting during the minimum of
//            BENCH_MIN_CALL_SECONDS (3), count, confirmation, hang-up) against the same prompts
//            in plain dialplan (asterisk-conf/extensions.conf, sanscode-bench-paid). For each,
//            the highest rate of new calls held BENCH_HOLD_SECONDS (120) with zero failed calls:
//            from BENCH_RATE_START (8) calls/s doubling until a failure (at most
//            BENCH_RATE_MAX, 64), then BENCH_BISECT (2) bisection steps; the IVR at the
//            dialplan's rate, then 1.25× (or 0.8× if it failed), then one bisection step, or
//            (nothing held) down by 0.8× at most twice more. After each IVR step the ledger
//            must show every successful call counted once, and nothing more. Asterisk runs
//            on CPU 0 alone and the rest (PostgreSQL, IVR, SIPp) on the other CPUs, as with
//            Asterisk on a host of its own; BENCH_PIN=0 lets them all share every CPU. Each
//            step also reports Asterisk's, PostgreSQL's and the IVR's CPU per call (/proc).
// memory     A fresh IVR process takes BENCH_MEMORY_CALLS (5,000) refused calls (CANCEL 300 ms
//            after the first 183) at BENCH_MEMORY_RATE (25) calls/s; its RSS (/proc) and V8 heap
//            in use (its /metrics) are read at its 1,000th and last call decision; the RSS
//            compared is over the 500 calls from the 1,000th, and over the last 500: the lowest
//            reading of each (just after a major collection: what the process keeps) and the
//            median (where it sits between two collections). Then two heap
//            snapshots of the idle process (SIGUSR2), around BENCH_SNAPSHOT_CALLS (2,000) more
//            calls: their difference over those calls is the heap's growth per call.
//
// Duration with the defaults (measured 2026-12-06): decision 80 s, memory 5 min, throughput
// 13 to 26 min in four runs (two 10 s reference steps, then about 2.5 min per rate step: hold
// + about 25 s for the last calls to end; 5 to 10 rate steps); 25-33 min in all. BENCH_HOLD_SECONDS=30 makes
// throughput about 8 min.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { createPurchase } from '../db/ledger/index.js';
import { asterisk } from '../test/support/asterisk.js';
import { provision } from '../test/support/fixtures.js';
import { cpuSecondsOfProgram, createBenchDatabase, percentile, pidsOfProgram, pinToCpus, round, runTransactionFloor, sleep, type Row } from './lib.js';
import { channelsDrained, runSipp, scenarios, startIvrProcess, type IvrProcess, type SippResult } from './sipp.js';

const PARTS = ['decision', 'throughput', 'memory'] as const;
type Part = (typeof PARTS)[number];
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const parts = (process.env.BENCH_CALLS ?? PARTS.join(',')).split(',').filter(Boolean) as Part[];
const unknownParts = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
if (unknownParts.length) {
  console.error(`BENCH_CALLS: unknown part(s) ${unknownParts.join(', ')} (${PARTS.join(', ')})`);
  process.exit(2);
}

/** The number of the bench's caller_id offer, as dialed (national form) and as stored. */
const PAID_NUMBER = { dialed: '0899123456', e164: '+33899123456' };
/** A number no offer holds: refused by the IVR (unknown_number). */
const UNKNOWN_NUMBER = '0899999999';
const MIN_CALL_SECONDS = env('BENCH_MIN_CALL_SECONDS', 3);

const log = (line: string) => console.log(line);
const rx = (command: string) => asterisk('rx', command);
const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const p = (a: number[], q: number) => percentile(sorted(a), q);

// --- Asterisk: this tree's configuration, and the bench extensions routed only while we run.
let startedAsterisk = false;
try {
  await asterisk('status');
} catch {
  startedAsterisk = true;
}
await asterisk('start'); // (re)installs asterisk-conf/ of this tree and reloads
const ROUTES = { progress: 'bench-progress', paid: 'bench-paid' } as const;
for (const [exten, context] of [
  [ROUTES.progress, 'sanscode-bench-progress'],
  [ROUTES.paid, 'sanscode-bench-paid'],
]) {
  await rx(`dialplan add extension ${exten},1,Goto(${context},s,1) into from-carrier replace`);
}
await rx(`dialplan set global SANSCODE_BENCH_MIN_CALL_SECONDS ${MIN_CALL_SECONDS}`);
const routed = await rx('dialplan show from-carrier');
if (!routed.includes(ROUTES.paid) || !routed.includes(ROUTES.progress)) throw new Error(`bench extensions not added to from-carrier:\n${routed}`);

const t = await createBenchDatabase();
const sql = postgres(t.url, { max: 2, onnotice: () => {} });
const { merchant, offer } = await provision(t.db, { callsRequired: 1, minCallSeconds: MIN_CALL_SECONDS, numbers: [PAID_NUMBER.e164], purchaseTtlSeconds: 86_400 });
let ivr: IvrProcess | null = null;
const rows: Row[] = [];

/** Callers numbered from 1 in the order created, each with a pending one-call purchase. */
let callersCreated = 0;
const callerNumber = (k: number) => `+336${String(k).padStart(8, '0')}`;
async function callersWithPurchases(n: number): Promise<{ callers: string[]; from: string; to: string }> {
  const first = callersCreated + 1;
  callersCreated += n;
  const callers = Array.from({ length: n }, (_, i) => callerNumber(first + i));
  for (let i = 0; i < n; i += 16) {
    await Promise.all(callers.slice(i, i + 16).map((c) => createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: c })));
  }
  // SIPp sends them without the plus, as some trunks do (the IVR normalises them).
  return { callers: callers.map((c) => c.slice(1)), from: callers[0]!, to: callers.at(-1)! };
}

async function freshIvr(opts: { nodeArgs?: string[] } = {}): Promise<IvrProcess> {
  await ivr?.stop();
  // The previous process's ARI application must be gone before the next one registers.
  for (let i = 0; i < 50 && (await rx('ari show apps')).includes('sanscode'); i++) await sleep(100);
  // BENCH_IVR_NODE_ARGS: e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the IVR under this load.
  const nodeArgs = [...(process.env.BENCH_IVR_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(opts.nodeArgs ?? [])];
  ivr = await startIvrProcess(t.url, { nodeArgs });
  return ivr;
}

async function settle(): Promise<void> {
  if (!(await channelsDrained(rx))) log('  warning: Asterisk still holds channels after 60 s');
  await sleep(1000);
}

const describe = (r: SippResult) => `${r.successful} ok, ${r.failed} failed${r.code === 0 ? '' : ` (sipp exit ${r.code}, see ${r.dir})`}`;

// --- Goal 3: the call decision, and the time to the first 183.
async function decision(): Promise<void> {
  const rate = env('BENCH_DECISION_RATE', 20);
  const perFlow = env('BENCH_DECISION_CALLS', 600);
  const rounds = 3;
  const perRound = Math.ceil(perFlow / rounds);
  const proc = ivr ?? (await freshIvr());
  log(`\n-- decision: ${rounds} rounds of ${perRound} calls per flow at ${rate} calls/s, CANCEL at the first 183`);
  const viaIvr: number[] = [];
  const viaDialplan: number[] = [];
  const decisionMs: number[] = [];
  // The floor under decisionMs (bench/transaction-floor.ts): alongside each IVR round.
  const floorMs: number[] = [];
  let failures = 0;
  let ivrCpuSeconds = 0;
  // Round 0 warms both up (JIT, connection pools, Asterisk's caches) and is not counted.
  for (let r = 0; r <= rounds; r++) {
    const calls = r === 0 ? Math.min(perRound, 2 * rate) : perRound;
    const { callers } = await callersWithPurchases(calls);
    const logFrom = proc.logSize();
    const cpuFrom = proc.cpuSeconds();
    const sipp = { scenario: scenarios.earlyMediaCancel, callers, rate, calls, earlyMediaTimes: true, recvTimeoutMs: 30_000 };
    const [ivrRun, floor] = await Promise.all([runSipp({ ...sipp, service: PAID_NUMBER.dialed, port: 5400 }), runTransactionFloor({ url: t.url, rate, seconds: calls / rate })]);
    await settle();
    const decided = proc.decisions(logFrom).filter((d) => d.action === 'answer').map((d) => d.decisionMs);
    const cpu = proc.cpuSeconds() - cpuFrom;
    const dpRun = await runSipp({ ...sipp, service: ROUTES.progress, port: 5402 });
    await settle();
    const f = (ms: number[], q: number) => round(p(ms, q), 1);
    log(`  ${r === 0 ? 'warm-up' : `round ${r}`}: IVR ${describe(ivrRun)}, 183 p50 ${f(ivrRun.earlyMediaMs, 0.5)} ms p99 ${f(ivrRun.earlyMediaMs, 0.99)} ms, decision p50 ${f(decided, 0.5)} ms p99 ${f(decided, 0.99)} ms (${decided.length} logged), floor p50 ${f(floor, 0.5)} ms p99 ${f(floor, 0.99)} ms; dialplan ${describe(dpRun)}, 183 p50 ${f(dpRun.earlyMediaMs, 0.5)} ms p99 ${f(dpRun.earlyMediaMs, 0.99)} ms`);
    if (r === 0) continue;
    decisionMs.push(...decided);
    floorMs.push(...floor);
    ivrCpuSeconds += cpu;
    viaIvr.push(...ivrRun.earlyMediaMs);
    viaDialplan.push(...dpRun.earlyMediaMs);
    failures += ivrRun.failed + dpRun.failed;
  }
  const row = (name: string, ms: number[], extra: Row['extra'] = {}): Row => ({ part: 'calls', name, opsPerSec: null, p50Ms: round(p(ms, 0.5), 2), p99Ms: round(p(ms, 0.99), 2), extra: { calls: ms.length, callsPerSecond: rate, ...extra } });
  const dialplan = row(`plain dialplan: INVITE → 183 at ${rate} calls/s (Progress())`, viaDialplan, { failedCalls: failures });
  const ivrRow = row(`IVR: INVITE → 183 at ${rate} calls/s (Stasis, decision, progress)`, viaIvr, {
    failedCalls: failures,
    p50TimesDialplan: round(p(viaIvr, 0.5) / p(viaDialplan, 0.5), 2),
    p99TimesDialplan: round(p(viaIvr, 0.99) / p(viaDialplan, 0.99), 2),
    // The IVR process's CPU (user + system, /proc) per call: admission, 183, identity prompt,
    // dispute (the caller left during it), call end.
    ivrCpuMsPerCall: round((1000 * ivrCpuSeconds) / viaIvr.length, 2),
  });
  // Latency rows: ratio = the baseline's p50 over this row's (1 = as fast as plain dialplan).
  ivrRow.baseline = dialplan.name;
  ivrRow.ratio = round(p(viaDialplan, 0.5) / p(viaIvr, 0.5), 2);
  const floorRow = row(`floor: a transaction of the decision's shape at ${rate}/s, trivial statements, own process, during the IVR rounds`, floorMs, { maxMs: Math.max(...floorMs) });
  const decisionRow = row(`IVR call decision at ${rate} calls/s (StasisStart → decision made, IVR log; its 183 goes at StasisStart)`, decisionMs, { p999Ms: p(decisionMs, 0.999), maxMs: Math.max(...decisionMs) });
  decisionRow.baseline = floorRow.name;
  rows.push(dialplan, ivrRow, floorRow, decisionRow);
}

// --- Goal 4: answered-call throughput, IVR against plain dialplan.
interface Step {
  rate: number;
  calls: number;
  held: boolean;
  successful: number;
  failed: number;
  answerP50Ms: number;
  answerP99Ms: number;
  /** Mean length of the calls, seconds. */
  callSeconds: number;
  /** Asterisk's and PostgreSQL's CPU time per call during the step (/proc; the settling after it included). */
  asteriskCpuMsPerCall: number;
  postgresCpuMsPerCall: number;
  /** IVR steps: the IVR process's CPU time per call (/proc). */
  ivrCpuMsPerCall?: number;
  /** IVR steps: calls counted in the ledger for this step's callers, and purchases counted more than once. */
  counted?: number;
  overCounted?: number;
}

async function throughput(): Promise<void> {
  const hold = env('BENCH_HOLD_SECONDS', 120);
  const maxRate = env('BENCH_RATE_MAX', 64);
  const proc = ivr ?? (await freshIvr());
  log(`\n-- throughput: answered calls, ${hold} s per rate, minimum ${MIN_CALL_SECONDS} s`);
  const pinned = pinAsterisk(proc);
  try {
    await throughputSearch(hold, maxRate, proc, pinned);
  } finally {
    if (pinned) unpin(proc);
  }
}

/**
 * BENCH_PIN (default 1, with 2 or more cores): Asterisk gets CPU 0 to itself, and everything
 * else of the bench (PostgreSQL, the IVR, SIPp, this process) the others, as when Asterisk runs
 * on a host of its own, so that both flows are measured against the same Asterisk capacity.
 * With BENCH_PIN=0 they all share every core: the IVR flow's rate is then limited by the CPU
 * of the IVR and PostgreSQL as much as by Asterisk (measured 2026-12-06: 0.5-0.56×).
 */
function pinAsterisk(proc: IvrProcess): string | null {
  const cores = availableParallelism();
  if (process.env.BENCH_PIN === '0' || cores < 2) return null;
  const others = cores === 2 ? '1' : `1-${cores - 1}`;
  pinToCpus('0', pidsOfProgram('asterisk'));
  pinToCpus(others, [...pidsOfProgram('postgres'), process.pid, proc.pid]);
  log(`  CPUs: Asterisk on 0; PostgreSQL, the IVR, SIPp and the bench on ${others} (BENCH_PIN=0 to share them all)`);
  return `Asterisk on CPU 0 of ${cores}; PostgreSQL, the IVR and SIPp on ${others}`;
}

function unpin(proc: IvrProcess): void {
  const all = `0-${availableParallelism() - 1}`;
  pinToCpus(all, [...pidsOfProgram('asterisk'), ...pidsOfProgram('postgres'), process.pid, proc.pid]);
}

async function throughputSearch(hold: number, maxRate: number, proc: IvrProcess, pinned: string | null): Promise<void> {

  // A rate is held with zero failed calls, and calls no longer than BENCH_MAX_STRETCH (1.1)×
  // their length at a light load (20 calls at 2/s, measured first for each flow): a flow that
  // keeps every call but delays its prompts by seconds is not keeping up.
  const maxStretch = env('BENCH_MAX_STRETCH', 1.1);
  const lightLength: Partial<Record<'ivr' | 'dialplan', number>> = {};

  async function step(flow: 'ivr' | 'dialplan', rate: number, seconds = hold): Promise<Step> {
    const calls = Math.round(rate * seconds);
    const paid = flow === 'ivr' ? await callersWithPurchases(calls) : null;
    const callers = paid?.callers ?? Array.from({ length: Math.min(calls, 1000) }, (_, i) => callerNumber(90_000_000 + i).slice(1));
    const cpuFrom = proc.cpuSeconds();
    const asteriskFrom = cpuSecondsOfProgram('asterisk');
    const postgresFrom = cpuSecondsOfProgram('postgres');
    const run = await runSipp({ scenario: scenarios.answeredWaitBye, service: flow === 'ivr' ? PAID_NUMBER.dialed : ROUTES.paid, callers, rate, calls, port: flow === 'ivr' ? 5404 : 5406, rtt: true, recvTimeoutMs: 60_000 });
    await settle();
    const ivrCpuMsPerCall = flow === 'ivr' ? round((1000 * (proc.cpuSeconds() - cpuFrom)) / calls, 2) : undefined;
    // Where the machine's CPU went, per call: Asterisk (both flows) and PostgreSQL (the IVR's ledger).
    const asteriskCpuMsPerCall = round((1000 * (cpuSecondsOfProgram('asterisk') - asteriskFrom)) / calls, 2);
    const postgresCpuMsPerCall = round((1000 * (cpuSecondsOfProgram('postgres') - postgresFrom)) / calls, 2);
    const stretched = run.callSeconds > maxStretch * lightLength[flow]!;
    const s: Step = { rate, calls, held: run.code === 0 && run.failed === 0 && run.successful === calls && !stretched, successful: run.successful, failed: run.failed, answerP50Ms: p(run.rttMs, 0.5), answerP99Ms: p(run.rttMs, 0.99), callSeconds: round(run.callSeconds, 2), asteriskCpuMsPerCall, postgresCpuMsPerCall, ...(ivrCpuMsPerCall !== undefined && { ivrCpuMsPerCall }) };
    if (paid) {
      // Every successful call counted exactly once: one counted call row each, and no purchase
      // (callsRequired 1) credited more than once.
      const [c] = await sql<{ counted: number; over: number }[]>`
        select (select count(*)::int from calls where outcome = 'counted' and caller_number between ${paid.from} and ${paid.to}) as counted,
               (select count(*)::int from purchases where calls_counted > 1 and caller_number between ${paid.from} and ${paid.to}) as over`;
      s.counted = c!.counted;
      s.overCounted = c!.over;
      if (s.counted !== s.successful || s.overCounted) s.held = false;
    }
    log(`  ${flow.padEnd(8)} ${String(rate).padStart(3)} calls/s × ${seconds} s: ${describe(run)}; INVITE → 200 p50 ${s.answerP50Ms} ms p99 ${s.answerP99Ms} ms, calls last ${s.callSeconds} s${paid ? `; ledger: ${s.counted} counted, ${s.overCounted} over-credited; IVR CPU ${s.ivrCpuMsPerCall} ms/call` : ''}; CPU ms/call Asterisk ${s.asteriskCpuMsPerCall}, PostgreSQL ${s.postgresCpuMsPerCall} → ${s.held ? 'held' : 'NOT held'}`);
    return s;
  }

  /** Up by `factor` from `start` until a rate fails, then `bisect` steps between the last held and the first failed. */
  async function search(flow: 'ivr' | 'dialplan', start: number, factor: number, bisect: number): Promise<{ best: Step | null; steps: Step[] }> {
    const steps: Step[] = [];
    let best: Step | null = null;
    let failedAt = Infinity;
    for (let rate = start; rate <= maxRate; rate = Math.max(rate + 1, Math.round(rate * factor))) {
      const s = await step(flow, rate);
      steps.push(s);
      if (!s.held) {
        failedAt = rate;
        break;
      }
      best = s;
    }
    let low = best?.rate ?? 0;
    for (let i = 0; i < bisect && Number.isFinite(failedAt) && failedAt - low > 1; i++) {
      const rate = Math.floor((low + failedAt) / 2);
      if (rate <= 0) break;
      const s = await step(flow, rate);
      steps.push(s);
      if (s.held) {
        best = s;
        low = rate;
      } else failedAt = rate;
    }
    return { best, steps };
  }

  async function ivrSearch(target: number): Promise<{ best: Step | null; steps: Step[] }> {
    const steps: Step[] = [];
    const run = async (rate: number) => {
      const s = await step('ivr', rate);
      steps.push(s);
      return s;
    };
    if (target <= 0) return { best: null, steps };
    const first = await run(target);
    const other = await run(first.held ? Math.max(target + 1, Math.round(target * 1.25)) : Math.max(1, Math.floor(target * 0.8)));
    const [low, high] = first.held ? [first, other] : [other, first];
    let best = high.held ? high : low.held ? low : null;
    if (low.held && !high.held && high.rate - low.rate > 1) {
      const middle = await run(Math.floor((low.rate + high.rate) / 2));
      if (middle.held) best = middle;
    }
    // Below the goal: go on down (0.8x a step, two steps at most) so that the row says what
    // the IVR does hold, not just that it missed.
    for (let lower = low; !best && lower.rate > 1 && steps.length < 4; ) {
      lower = await run(Math.max(1, Math.floor(lower.rate * 0.8)));
      if (lower.held) best = lower;
    }
    return { best, steps };
  }

  for (const flow of ['dialplan', 'ivr'] as const) {
    lightLength[flow] = Infinity;
    lightLength[flow] = (await step(flow, 2, 10)).callSeconds;
  }
  const dialplan = await search('dialplan', env('BENCH_RATE_START', 8), 2, env('BENCH_BISECT', 2));
  const dpRate = dialplan.best?.rate ?? 0;
  // The IVR at the dialplan's rate first; held: 1.25× that, then one bisection; not held: 0.8×
  // (the goal), then one bisection. Three steps at most.
  const ivrRun = await ivrSearch(dpRate);
  const ivrRate = ivrRun.best?.rate ?? 0;
  const stepsText = (steps: Step[]) => steps.map((s) => `${s.rate}/s ${s.held ? 'held' : `not held (${s.failed} failed calls, calls last ${s.callSeconds} s)`}`).join(', ');
  const ivrSteps = ivrRun.steps;
  // Over every IVR step, failed ones included: a call the caller saw fail must not be credited.
  const credited = ivrSteps.length > 0 && ivrSteps.every((s) => s.counted === s.successful && s.overCounted === 0);
  const dpRow: Row = {
    part: 'calls',
    name: `plain dialplan: answered calls/s held ${hold} s, 0 failed`,
    opsPerSec: dpRate,
    p50Ms: dialplan.best?.answerP50Ms ?? null,
    p99Ms: dialplan.best?.answerP99Ms ?? null,
    extra: { holdSeconds: hold, minCallSeconds: MIN_CALL_SECONDS, callSeconds: dialplan.best?.callSeconds ?? NaN, cpus: pinned ?? 'all shared', asteriskCpuMsPerCall: dialplan.best?.asteriskCpuMsPerCall ?? NaN, steps: stepsText(dialplan.steps), latency: 'INVITE → 200 OK at that rate' },
  };
  rows.push(dpRow, {
    part: 'calls',
    name: `IVR: answered calls/s held ${hold} s, 0 failed, each counted once`,
    opsPerSec: ivrRate,
    p50Ms: ivrRun.best?.answerP50Ms ?? null,
    p99Ms: ivrRun.best?.answerP99Ms ?? null,
    baseline: dpRow.name,
    ratio: dpRate ? round(ivrRate / dpRate, 2) : 0,
    extra: {
      holdSeconds: hold,
      minCallSeconds: MIN_CALL_SECONDS,
      callSeconds: ivrRun.best?.callSeconds ?? NaN,
      cpus: pinned ?? 'all shared',
      ivrCpuMsPerCall: ivrRun.best?.ivrCpuMsPerCall ?? NaN,
      asteriskCpuMsPerCall: ivrRun.best?.asteriskCpuMsPerCall ?? NaN,
      postgresCpuMsPerCall: ivrRun.best?.postgresCpuMsPerCall ?? NaN,
      steps: stepsText(ivrSteps),
      creditedExactlyOnce: credited,
      callsCounted: ivrSteps.reduce((n, s) => n + (s.counted ?? 0), 0),
      sippSuccessful: ivrSteps.reduce((n, s) => n + s.successful, 0),
      latency: 'INVITE → 200 OK at that rate',
    },
  });
}

// --- Goal 5: the IVR worker's memory over thousands of calls.

/** Total size of the objects in a V8 heap snapshot (the sum of its nodes' self sizes) and their number. */
function snapshotSize(file: string): { bytes: number; objects: number } {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snap.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let bytes = 0;
  for (let i = selfSize; i < snap.nodes.length; i += fields.length) bytes += snap.nodes[i]!;
  return { bytes, objects: snap.nodes.length / fields.length };
}

/** Has the IVR write a heap snapshot (SIGUSR2; V8 collects garbage first) and measures it. */
async function heapSnapshot(proc: IvrProcess, dir: string): Promise<{ bytes: number; objects: number }> {
  const before = new Set(readdirSync(dir));
  proc.child.kill('SIGUSR2');
  // Written synchronously on the IVR's main thread: once it answers again, the file is whole.
  for (let i = 0; i < 600; i++) {
    await sleep(200);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file && (await proc.metric('sanscode_nodejs_heap_size_used_bytes').catch(() => NaN)) > 0) {
      const size = snapshotSize(path.join(dir, file));
      rmSync(path.join(dir, file));
      return size;
    }
  }
  throw new Error('the IVR wrote no heap snapshot within 2 minutes');
}

async function memory(): Promise<void> {
  const calls = env('BENCH_MEMORY_CALLS', 5000);
  const rate = env('BENCH_MEMORY_RATE', 25);
  const snapshotCalls = env('BENCH_SNAPSHOT_CALLS', 2000);
  const mark = Math.min(1000, Math.floor(calls / 5));
  const snapshots = mkdtempSync(path.join(tmpdir(), 'sanscode-bench-heap-'));
  const proc = await freshIvr({ nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] });
  log(`\n-- memory: a fresh IVR process, ${calls} refused calls at ${rate} calls/s (CANCEL at the first 183)`);
  // RSS every 100 ms against the number of decisions so far. V8's heap swings by tens of MiB
  // between two major collections, so a single reading says more about when the last one ran
  // than about growth: each figure is the median of the readings over a window of `window` calls
  // (the first from call `mark`, the last up to the final call); single readings are kept too.
  const window = Math.min(500, Math.floor(calls / 10));
  const samples: { decided: number; rss: number }[] = [];
  const sampled: Record<number, { rssMiB: number; heapMiB: number }> = {};
  let decided = 0;
  let offset = proc.logSize();
  let pending = '';
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const chunk = readFileSync(proc.logFile).subarray(offset);
      offset += chunk.length;
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      decided += lines.filter((l) => l.includes('"call decision"')).length;
      samples.push({ decided, rss: proc.rssBytes() });
      for (const at of [mark, calls]) {
        if (decided >= at && !sampled[at]) {
          const heap = await proc.metric('sanscode_nodejs_heap_size_used_bytes');
          sampled[at] = { rssMiB: round(samples.at(-1)!.rss / 2 ** 20, 1), heapMiB: round(heap / 2 ** 20, 1) };
          log(`  call ${at}: RSS ${sampled[at].rssMiB} MiB, V8 heap in use ${sampled[at].heapMiB} MiB`);
        }
      }
      await sleep(100);
    }
  })();
  const sipp = { scenario: scenarios.earlyMediaCancel, service: UNKNOWN_NUMBER, callers: ['33612345678'], rate, recvTimeoutMs: 30_000 };
  const run = await runSipp({ ...sipp, calls, port: 5408 });
  await settle();
  done = true;
  await sampler;
  log(`  SIPp: ${describe(run)}`);
  // Heap: two snapshots (after a full GC each) of the idle process, around snapshotCalls more
  // calls, after the RSS readings (writing a snapshot grows the RSS).
  const heapA = await heapSnapshot(proc, snapshots);
  const more = snapshotCalls > 0 ? await runSipp({ ...sipp, calls: snapshotCalls, port: 5408 }) : null;
  await settle();
  const heapB = more ? await heapSnapshot(proc, snapshots) : heapA;
  const perCall = more ? Math.round((heapB.bytes - heapA.bytes) / snapshotCalls) : NaN;
  log(`  heap snapshots (idle, after GC): ${round(heapA.bytes / 2 ** 20, 2)} MiB, ${heapA.objects} objects → after ${snapshotCalls} more calls${more ? ` (${describe(more)})` : ''}: ${round(heapB.bytes / 2 ** 20, 2)} MiB, ${heapB.objects} objects (${perCall} B/call)`);
  rmSync(snapshots, { recursive: true, force: true });
  const mib = (b: number) => round(b / 2 ** 20, 1);
  const medianRss = (from: number, to: number) => mib(p(samples.filter((x) => x.decided >= from && x.decided <= to).map((x) => x.rss), 0.5));
  const rssFirst = medianRss(mark, mark + window);
  const rssLast = medianRss(calls - window, calls);
  // The lowest reading of a window comes just after a major collection: what the process keeps.
  const lowestRss = (from: number, to: number) => mib(Math.min(...samples.filter((x) => x.decided >= from && x.decided <= to).map((x) => x.rss)));
  const troughFirst = lowestRss(mark, mark + window);
  const troughLast = lowestRss(calls - window, calls);
  const span = samples.filter((x) => x.decided >= mark && x.decided <= calls).map((x) => x.rss);
  log(`  RSS median over calls ${mark}-${mark + window}: ${rssFirst} MiB; over calls ${calls - window}-${calls}: ${rssLast} MiB; from call ${mark} to ${calls} between ${mib(Math.min(...span))} and ${mib(Math.max(...span))} MiB`);
  log(`  RSS lowest (after a major collection) over calls ${mark}-${mark + window}: ${troughFirst} MiB; over calls ${calls - window}-${calls}: ${troughLast} MiB (${round(troughLast / troughFirst, 3)}×)`);
  const first = sampled[mark];
  const last = sampled[calls];
  rows.push({
    part: 'calls',
    name: `IVR worker RSS, call ${mark} → call ${calls} (${rate} calls/s)`,
    opsPerSec: null,
    p50Ms: null,
    p99Ms: null,
    extra: {
      calls,
      callsPerSecond: rate,
      failedCalls: run.failed + (more?.failed ?? 0),
      rssWindowCalls: window,
      rssFirstMiB: rssFirst,
      rssLastMiB: rssLast,
      rssRatio: round(rssLast / rssFirst, 3),
      rssLowestFirstMiB: troughFirst,
      rssLowestLastMiB: troughLast,
      rssLowestRatio: round(troughLast / troughFirst, 3),
      rssMinMiB: mib(Math.min(...span)),
      rssMaxMiB: mib(Math.max(...span)),
      rssAtCallFirstMiB: first?.rssMiB ?? NaN,
      rssAtCallLastMiB: last?.rssMiB ?? NaN,
      heapInUseFirstMiB: first?.heapMiB ?? NaN,
      heapInUseLastMiB: last?.heapMiB ?? NaN,
      heapSnapshotMiB: `${round(heapA.bytes / 2 ** 20, 2)} → ${round(heapB.bytes / 2 ** 20, 2)}`,
      heapSnapshotObjects: `${heapA.objects} → ${heapB.objects}`,
      heapGrowthBytesPerCall: perCall,
      snapshotCalls,
    },
  });
}

const started = Date.now();
try {
  for (const part of parts) {
    const t0 = Date.now();
    if (part === 'decision') await decision();
    if (part === 'throughput') await throughput();
    if (part === 'memory') await memory();
    log(`  (${part}: ${round((Date.now() - t0) / 1000, 0)} s)`);
  }
} finally {
  await (ivr as IvrProcess | null)?.stop();
  for (const exten of Object.values(ROUTES)) await rx(`dialplan remove extension ${exten}@from-carrier`).catch(() => {});
  await sql.end();
  await t.drop();
  if (startedAsterisk) await asterisk('stop');
}
log(`\ncalls bench: ${round((Date.now() - started) / 1000, 0)} s in all (${path.basename(import.meta.filename)})`);
console.log(`BENCH_ROWS ${JSON.stringify(rows)}`);
