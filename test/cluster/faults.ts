// The cluster test: real SIP calls through Kamailio to two Asterisk nodes (scripts/cluster.sh),
// while it kills Asterisk B with SIGKILL, restarts it, kills the serving IVR worker of node A
// with SIGKILL, and starts a worker for node A by mistake. Then it checks, from the callers'
// side and from the ledger, what each fault cost and that nothing was credited twice.
//
// Used by `npm run test:cluster` (test/cluster/run.ts: 200 calls at 4 a second) and, short, by
// test/e2e/cluster.test.ts. Every call is a buyer who may be credited: a caller-ID purchase of
// 2 calls (its two calls placed apart) or a lent dynamic number (1 call). Callers stay on the
// line until the IVR hangs up.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { placeCall, type CallResult } from '../../scripts/lib/sipp.js';
import { NODE_LOCK_CLASS } from '../../db/node-lock.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const clusterScript = path.join(root, 'scripts/cluster.sh');
const SCENARIO = path.join(import.meta.dirname, 'sipp/uac-proxy-caller.xml');
const ADMIN = 'cluster-admin-token-0123456789';
const API = ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'];
const NODE_URI = { a: 'sip:127.0.0.2:5060', b: 'sip:127.0.0.3:5060' } as const;

export interface ClusterTestOptions {
  calls: number;
  /** New calls per second. */
  rate: number;
  /** When Asterisk B is killed, after the first call. */
  killAsteriskAtMs: number;
  /** Earliest time the serving worker of node A is killed (also waits for B to be back). */
  killWorkerAtMs: number;
  /** Keep the cluster's logs and database afterwards (default: drop the database). */
  keep?: boolean;
  say?: (line: string) => void;
}

interface Call {
  index: number;
  kind: 'caller_id' | 'dynamic';
  caller: string;
  /** National number dialed. */
  dialed: string;
  purchaseId: string;
  startedAt: number;
  endedAt?: number;
  result?: CallResult;
  /** The ledger's record of it (matched afterwards). */
  row?: CallRow;
}

interface CallRow {
  channel_id: string;
  caller_number: string | null;
  dialed_number: string | null;
  outcome: string;
  started_at: Date;
  answered_at: Date | null;
  ended_at: Date | null;
  purchase_id: string | null;
}

export interface ClusterReport {
  startedAt: string;
  seconds: number;
  options: Omit<ClusterTestOptions, 'say'>;
  failures: string[];
  faults: {
    asteriskB: {
      killedAtS: number;
      detectedAfterMs: number | null;
      inProgressOnB: number;
      inProgressOnBOutcomes: Record<string, number>;
      startedBeforeDetection: number;
      failedBeforeDetection: number;
      startedDownAfterDetection: number;
      failedDownAfterDetection: number;
    };
    asteriskBRestart: { restartedAtS: number | null; backInAfterMs: number | null; callsOnBAfterwards: number };
    workerA: {
      killedAtS: number | null;
      killedPid: number | null;
      newHolderAfterMs: number | null;
      appBackAfterMs: number | null;
      inProgressOnA: number;
      inProgressOnACounted: number;
      startedInGap: number;
      refusedInGap: number;
      mistakenWorkerStayedStandby: boolean | null;
    };
  };
  totals: {
    placed: number;
    callerSaw: Record<string, number>;
    perNode: Record<string, number>;
    outcomes: Record<string, number>;
    purchases: Record<string, number>;
    countedCalls: number;
    doubleCredits: number;
    overRequired: number;
    openCalls: number;
  };
  logs: string;
}

export async function runClusterTest(opts: ClusterTestOptions): Promise<ClusterReport> {
  const started = Date.now();
  const say = opts.say ?? (() => {});
  const failures: string[] = [];
  const fail = (line: string) => failures.push(line);
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dbName = `sanscode_cluster_${randomBytes(5).toString('hex')}`;
  const dbUrl = Object.assign(new URL(serverUrl), { pathname: `/${dbName}` }).toString();
  const env = { ...process.env, CLUSTER_DATABASE_URL: dbUrl, ADMIN_TOKEN: ADMIN };
  const cluster = async (...args: string[]) => (await run('bash', [clusterScript, ...args], { env, timeout: 600_000, maxBuffer: 16 << 20 })).stdout;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} });
  const t = () => Date.now() - started;
  const at = (ms: number) => Math.round(ms / 100) / 10;
  const report: ClusterReport['faults'] = {
    asteriskB: { killedAtS: 0, detectedAfterMs: null, inProgressOnB: 0, inProgressOnBOutcomes: {}, startedBeforeDetection: 0, failedBeforeDetection: 0, startedDownAfterDetection: 0, failedDownAfterDetection: 0 },
    asteriskBRestart: { restartedAtS: null, backInAfterMs: null, callsOnBAfterwards: 0 },
    workerA: { killedAtS: null, killedPid: null, newHolderAfterMs: null, appBackAfterMs: null, inProgressOnA: 0, inProgressOnACounted: 0, startedInGap: 0, refusedInGap: 0, mistakenWorkerStayedStandby: null },
  };
  const calls: Call[] = [];
  let logs = '';
  try {
    say(`cluster: starting (database ${dbName})`);
    logs = (await cluster('start')).match(/log (\S+)\/asterisk-a\.log/)?.[1] ?? '';
    say(await cluster('status'));

    // --- the purchases, through both API processes -----------------------------------------
    const apiCall = async (base: string, method: string, url: string, token: string, body?: unknown) => {
      const res = await fetch(base + url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = (await res.json()) as any;
      if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const merchant = await apiCall(API[0]!, 'POST', '/v1/admin/merchants', ADMIN, { name: 'Cluster test' });
    const plans = planCalls(opts.calls);
    const dynamicCount = plans.filter((p) => p.kind === 'dynamic').length;
    const callerIdOffer = await apiCall(API[0]!, 'POST', '/v1/admin/offers', ADMIN, {
      merchantId: merchant.id, name: 'cluster caller-id', language: 'fr', mode: 'caller_id', callsRequired: 2, minCallSeconds: 2, numbers: ['0899700001'], purchaseTtlSeconds: 3600,
    });
    const dynamicOffer = await apiCall(API[1]!, 'POST', '/v1/admin/offers', ADMIN, {
      merchantId: merchant.id, name: 'cluster dynamic', language: 'fr', mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 2,
      numbers: Array.from({ length: Math.max(dynamicCount, 1) }, (_, i) => `0899${String(710_000 + i).padStart(6, '0')}`),
      holdSeconds: 3600, maxHoldSeconds: 3600, quarantineSeconds: 3600,
    });
    const purchaseOf = new Map<string, string>();
    for (const [i, p] of plans.entries()) {
      const base = API[i % 2]!;
      if (p.kind === 'dynamic') {
        const purchase = await apiCall(base, 'POST', '/v1/purchases', merchant.apiKey, { offerId: dynamicOffer.id });
        calls.push({ index: i, kind: p.kind, caller: p.caller, dialed: `0${String(purchase.numberToCall).slice(3)}`, purchaseId: purchase.id, startedAt: 0 });
      } else {
        let purchaseId = purchaseOf.get(p.caller);
        if (!purchaseId) {
          purchaseId = (await apiCall(base, 'POST', '/v1/purchases', merchant.apiKey, { offerId: callerIdOffer.id, callerNumber: `+${p.caller}` })).id as string;
          purchaseOf.set(p.caller, purchaseId);
        }
        calls.push({ index: i, kind: p.kind, caller: p.caller, dialed: '0899700001', purchaseId, startedAt: 0 });
      }
    }
    say(`cluster: ${calls.length} calls planned (${dynamicCount} on lent numbers, ${calls.length - dynamicCount} caller-ID in pairs), ${opts.rate}/s`);

    // --- calls at a steady rate, faults alongside ------------------------------------------
    const callsStart = Date.now();
    const sinceCalls = () => Date.now() - callsStart;
    const placing = Promise.all(
      calls.map(async (c) => {
        await sleep(Math.round((c.index * 1000) / opts.rate) - sinceCalls());
        c.startedAt = Date.now();
        c.result = await placeCall({
          scenario: 'uac-chaos-hangup',
          scenarioFile: SCENARIO,
          dialed: c.dialed,
          caller: c.caller,
          // Longer than any served call (about 10 s): a caller cut off hangs up after 30 s.
          holdMs: 30_000,
          port: 21_000 + 2 * (c.index % 2_000),
          mediaPort: 16_000 + 8 * (c.index % 400),
          timeoutSeconds: 25,
        });
        c.endedAt = Date.now();
      }),
    );

    // Fault 1: Asterisk B killed; Kamailio must take it out within 10 s.
    await sleep(opts.killAsteriskAtMs - sinceCalls());
    const killedB = Date.now();
    report.asteriskB.killedAtS = at(killedB - callsStart);
    say(`cluster: t=${report.asteriskB.killedAtS}s kill -9 asterisk-b`);
    await cluster('kill', 'asterisk-b');
    const downAt = await waitUntil(async () => (await dispatcherFlags(cluster)).b?.startsWith('I') ?? false, 20_000);
    report.asteriskB.detectedAfterMs = downAt === null ? null : downAt - killedB;
    say(`cluster: Kamailio marked b down after ${report.asteriskB.detectedAfterMs ?? 'never (20 s)'} ms`);
    if (downAt === null || downAt - killedB > 10_000) fail(`Kamailio did not mark node b down within 10 s (${report.asteriskB.detectedAfterMs} ms)`);

    // Fault 2: B restarted (a few seconds later); Kamailio must put it back.
    await sleep(3_000);
    const restartedB = Date.now();
    report.asteriskBRestart.restartedAtS = at(restartedB - callsStart);
    await cluster('asterisk-start', 'b');
    const upAt = await waitUntil(async () => (await dispatcherFlags(cluster)).b?.startsWith('A') ?? false, 20_000);
    report.asteriskBRestart.backInAfterMs = upAt === null ? null : upAt - restartedB;
    say(`cluster: t=${at(Date.now() - callsStart)}s asterisk-b restarted, back in Kamailio after ${report.asteriskBRestart.backInAfterMs ?? 'never'} ms`);
    if (upAt === null) fail('Kamailio did not put node b back within 20 s of its restart');

    // Fault 3: the serving worker of node A killed; a standby must serve within 5 s.
    await sleep(Math.max(opts.killWorkerAtMs - sinceCalls(), 2_000));
    const holderBefore = await holderPid(sql, 'a');
    let killedWorkerAt: number | null = null;
    let appBackAt: number | null = null;
    let newHolderAt: number | null = null;
    let killedName: string | null = null;
    if (holderBefore === null) fail('no worker held node a before the kill');
    else {
      for (const name of ['ivr-a1', 'ivr-a2']) if ((await cluster('pid', name).catch(() => '')).trim() === String(holderBefore)) killedName = name;
      killedWorkerAt = Date.now();
      report.workerA.killedAtS = at(killedWorkerAt - callsStart);
      report.workerA.killedPid = holderBefore;
      process.kill(holderBefore, 'SIGKILL');
      say(`cluster: t=${report.workerA.killedAtS}s kill -9 of ${killedName ?? 'the'} worker serving node a (pid ${holderBefore})`);
      const newHolder = await waitUntil(async () => {
        const pid = await holderPid(sql, 'a');
        return pid !== null && pid !== holderBefore;
      }, 15_000, 50);
      newHolderAt = newHolder;
      // The new holder's own log says when its ARI application was connected again (Asterisk
      // keeps listing an application while channels are in it, so its list cannot tell).
      const newPid = await holderPid(sql, 'a');
      const newName = ['ivr-a1', 'ivr-a2'].find((n) => n !== killedName) ?? 'ivr-a1';
      const connectedAt = async () => {
        const line = lastStart(path.join(logs, `${newName}.log`)).split('\n').find((l) => l.includes('"msg":"ARI connected"') && l.includes(`"pid":${newPid}`) && JSON.parse(l).time > killedWorkerAt!);
        return line ? (JSON.parse(line).time as number) : null;
      };
      appBackAt = (await waitUntil(async () => (await connectedAt()) !== null, 15_000, 100)) === null ? null : await connectedAt();
      report.workerA.newHolderAfterMs = newHolderAt === null ? null : newHolderAt - killedWorkerAt;
      report.workerA.appBackAfterMs = appBackAt === null ? null : appBackAt - killedWorkerAt;
      say(`cluster: standby holds node a after ${report.workerA.newHolderAfterMs} ms, ARI application back after ${report.workerA.appBackAfterMs} ms`);
      if (appBackAt === null || appBackAt - killedWorkerAt > 5_000) fail(`the standby did not serve node a within 5 s (${report.workerA.appBackAfterMs} ms)`);
      // A worker for node a started by mistake while one serves: it must stay on standby.
      if (killedName) {
        const holder = await holderPid(sql, 'a');
        await cluster('proc-start', killedName);
        const logFile = path.join(logs, `${killedName}.log`);
        const standby = await waitUntil(async () => lastStart(logFile).includes('IVR standby'), 30_000, 200);
        await sleep(3_000);
        const stayed = standby !== null && (await holderPid(sql, 'a')) === holder && !lastStart(logFile).includes('leadership acquired');
        report.workerA.mistakenWorkerStayedStandby = stayed;
        say(`cluster: a second worker started for node a ${stayed ? 'stays on standby' : 'DID NOT stay on standby'}`);
        if (!stayed) fail('a worker started by mistake for node a did not stay on standby');
      }
    }

    await placing;
    say(`cluster: t=${at(sinceCalls())}s all calls ended on the callers' side; checking the ledger`);

    // --- the ledger ---------------------------------------------------------------------------
    // Calls cut on B were closed by its worker's resync; give the closing a moment.
    const open = await waitUntil(async () => (await sql<{ n: number }[]>`select count(*)::int as n from calls where ended_at is null or outcome = 'in_progress'`)[0]!.n === 0, 60_000, 500);
    const rows = await sql<CallRow[]>`select channel_id, caller_number, dialed_number, outcome, started_at, answered_at, ended_at, purchase_id from calls order by started_at`;
    matchRows(calls, rows);
    const nodeOf = (r: CallRow | undefined) => r?.channel_id.split('-')[0] ?? 'none';
    const ok = (c: Call) => c.result?.exitCode === 0 && c.result.saw === 'ivr-bye';
    const inWindow = (c: Call, from: number, to: number | null) => c.startedAt >= from && (to === null || c.startedAt < to);

    // Asterisk B: calls in progress at the kill, calls in the detection window, calls after.
    const onBAtKill = calls.filter((c) => nodeOf(c.row) === 'b' && c.startedAt < killedB && (c.endedAt ?? 0) > killedB && c.row!.started_at.getTime() < killedB);
    report.asteriskB.inProgressOnB = onBAtKill.length;
    report.asteriskB.inProgressOnBOutcomes = tally(onBAtKill.map((c) => c.row!.outcome));
    const beforeDetection = calls.filter((c) => inWindow(c, killedB, downAt));
    report.asteriskB.startedBeforeDetection = beforeDetection.length;
    report.asteriskB.failedBeforeDetection = beforeDetection.filter((c) => !ok(c)).length;
    const downAfterDetection = downAt === null ? [] : calls.filter((c) => inWindow(c, downAt, upAt ?? restartedB));
    report.asteriskB.startedDownAfterDetection = downAfterDetection.length;
    report.asteriskB.failedDownAfterDetection = downAfterDetection.filter((c) => !ok(c)).length;
    for (const c of downAfterDetection.filter((c) => !ok(c))) fail(`call #${c.index} started after b was marked down, yet failed: ${describe(c)}`);
    const onBAfter = upAt === null ? [] : calls.filter((c) => c.startedAt > upAt && nodeOf(c.row) === 'b');
    report.asteriskBRestart.callsOnBAfterwards = onBAfter.length;
    if (upAt !== null && calls.some((c) => c.startedAt > upAt + 2_000) && onBAfter.length === 0) fail('node b took no call after it was back');

    // Worker of A: calls in progress on A at the kill must be resumed and counted once; calls
    // in the gap get the dialplan fallback (refused, never answered); none after.
    if (killedWorkerAt !== null) {
      const onAAtKill = calls.filter((c) => nodeOf(c.row) === 'a' && c.row!.answered_at && c.row!.answered_at.getTime() < killedWorkerAt && (c.endedAt ?? 0) > killedWorkerAt);
      report.workerA.inProgressOnA = onAAtKill.length;
      report.workerA.inProgressOnACounted = onAAtKill.filter((c) => c.row!.outcome === 'counted').length;
      for (const c of onAAtKill.filter((c) => c.row!.outcome !== 'counted' || !ok(c))) fail(`call #${c.index} in progress on a when its worker was killed was not resumed and counted: ${describe(c)}`);
      const gap = calls.filter((c) => inWindow(c, killedWorkerAt, appBackAt));
      report.workerA.startedInGap = gap.length;
      report.workerA.refusedInGap = gap.filter((c) => c.result?.saw === 'refused').length;
      for (const c of gap.filter((c) => c.result?.saw !== 'refused' && !ok(c))) fail(`call #${c.index} during the worker gap neither refused nor served: ${describe(c)}`);
      if (appBackAt !== null) for (const c of calls.filter((c) => c.startedAt > appBackAt + 500 && !ok(c))) fail(`call #${c.index} started after the standby took over, yet failed: ${describe(c)}`);
    }
    // Calls over before any fault all succeeded, and both nodes took some.
    for (const c of calls.filter((c) => (c.endedAt ?? Infinity) < killedB && !ok(c))) fail(`call #${c.index} before any fault failed: ${describe(c)}`);
    const perNode = tally(calls.map((c) => nodeOf(c.row)));
    if (!perNode.a || !perNode.b) fail(`calls were not spread over both nodes: ${JSON.stringify(perNode)}`);

    // Credits: each answered caller who stayed to the IVR's hang-up is one counted call, each
    // counted call once, no purchase past its callsRequired.
    for (const c of calls.filter((c) => c.result?.saw === 'ivr-bye' && c.row?.outcome !== 'counted')) fail(`call #${c.index}: the IVR hung up an answered caller without crediting: ${describe(c)}`);
    for (const r of rows.filter((r) => r.answered_at === null && ['counted', 'too_short'].includes(r.outcome))) fail(`call ${r.channel_id}: ${r.outcome} but never answered`);
    const purchases = await sql<{ id: string; status: string; calls_required: number; calls_counted: number; counted_rows: number }[]>`
      select p.id, p.status, p.calls_required, p.calls_counted,
        (select count(*)::int from calls c where c.purchase_id = p.id and c.outcome = 'counted') as counted_rows
      from purchases p`;
    const doubleCredits = purchases.filter((p) => p.calls_counted !== p.counted_rows).length;
    const overRequired = purchases.filter((p) => p.calls_counted > p.calls_required || p.counted_rows > p.calls_required).length;
    for (const p of purchases.filter((p) => p.calls_counted !== p.counted_rows || p.counted_rows > p.calls_required)) fail(`purchase ${p.id}: callsCounted ${p.calls_counted}, ${p.counted_rows} counted calls, ${p.calls_required} required`);
    const openCalls = (await sql<{ n: number }[]>`select count(*)::int as n from calls where ended_at is null or outcome = 'in_progress'`)[0]!.n;
    if (open === null || openCalls > 0) fail(`${openCalls} calls still in_progress in the ledger a minute after the last call`);

    const totals: ClusterReport['totals'] = {
      placed: calls.length,
      callerSaw: tally(calls.map((c) => (c.result?.exitCode === 0 ? (c.result.saw ?? 'nothing') : 'failed (no answer in time)'))),
      perNode,
      outcomes: tally(rows.map((r) => r.outcome)),
      purchases: tally(purchases.map((p) => p.status)),
      countedCalls: rows.filter((r) => r.outcome === 'counted').length,
      doubleCredits,
      overRequired,
      openCalls,
    };
    const result: ClusterReport = { startedAt: new Date(started).toISOString(), seconds: Math.round(t() / 1000), options: { calls: opts.calls, rate: opts.rate, killAsteriskAtMs: opts.killAsteriskAtMs, killWorkerAtMs: opts.killWorkerAtMs }, failures, faults: report, totals, logs };
    mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
    writeFileSync(path.join(root, 'test-artifacts', `cluster-${opts.calls}.json`), JSON.stringify({ ...result, calls: calls.map((c) => ({ index: c.index, kind: c.kind, dialed: c.dialed, startedAtS: at(c.startedAt - callsStart), seconds: at((c.endedAt ?? 0) - c.startedAt), saw: c.result?.saw ?? null, exit: c.result?.exitCode, node: nodeOf(c.row), outcome: c.row?.outcome ?? null })) }, null, 2));
    return result;
  } finally {
    await cluster('stop').catch((err: Error) => say(`cluster: stop failed: ${err.message}`));
    await sql.end();
    if (!opts.keep) await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

/** Who serves `node`: the pid in the application name of the lock holder's session. */
async function holderPid(sql: postgres.Sql, node: string): Promise<number | null> {
  const rows = await sql<{ application_name: string }[]>`
    select a.application_name from pg_locks l join pg_stat_activity a using (pid)
     where l.locktype = 'advisory' and l.classid = ${NODE_LOCK_CLASS} and l.objsubid = 2 and l.granted
       and a.application_name like ${`sanscode-ivr:${node}:%`}`;
  return rows.length === 1 ? Number(rows[0]!.application_name.split(':')[2]) : null;
}

/** Each node's dispatcher flags (e.g. AP active, IP inactive) from kamcmd dispatcher.list. */
async function dispatcherFlags(cluster: (...args: string[]) => Promise<string>): Promise<Partial<Record<'a' | 'b', string>>> {
  const out = await cluster('kamcmd', 'dispatcher.list').catch(() => '');
  const flags: Partial<Record<'a' | 'b', string>> = {};
  let uri = '';
  for (const line of out.split('\n')) {
    const m = /^\s*(URI|FLAGS):\s*(\S+)/.exec(line);
    if (m?.[1] === 'URI') uri = m[2]!;
    if (m?.[1] === 'FLAGS') for (const node of ['a', 'b'] as const) if (uri === NODE_URI[node]) flags[node] = m[2]!;
  }
  return flags;
}

/** The log of a process since its last start (scripts/cluster.sh marks each start). */
function lastStart(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('=== start ').at(-1) ?? '';
  } catch {
    return '';
  }
}

/** Matches each call with its ledger row: same numbers, recorded within seconds of the INVITE. */
function matchRows(calls: Call[], rows: CallRow[]): void {
  const taken = new Set<string>();
  for (const c of [...calls].sort((x, y) => x.startedAt - y.startedAt)) {
    const dialed = `+33${c.dialed.slice(1)}`;
    c.row = rows.find(
      (r) => !taken.has(r.channel_id) && r.dialed_number === dialed && (c.kind === 'dynamic' || r.caller_number === `+${c.caller}`) && Math.abs(r.started_at.getTime() - c.startedAt) < 10_000,
    );
    if (c.row) taken.add(c.row.channel_id);
  }
}

/** Who calls what: caller-ID buyers call twice, 24 calls apart; lent numbers once each. */
function planCalls(n: number): { kind: 'caller_id' | 'dynamic'; caller: string }[] {
  const plans: { kind: 'caller_id' | 'dynamic'; caller: string }[] = [];
  const spacing = 24;
  let callerIdSlot = 0;
  for (let i = 0; i < n; i++) {
    if (i % 5 < 2) {
      plans.push({ kind: 'dynamic', caller: `336${String(55_000_000 + i).padStart(8, '0')}` });
    } else {
      // Slots 0..23 of each block of 48 open a purchase, 24..47 make its second call.
      const block = Math.floor(callerIdSlot / (2 * spacing));
      const buyer = block * spacing + (callerIdSlot % spacing);
      plans.push({ kind: 'caller_id', caller: `336${String(12_000_000 + buyer).padStart(8, '0')}` });
      callerIdSlot++;
    }
  }
  return plans;
}

function describe(c: Call): string {
  return `${c.kind} ${c.caller} -> ${c.dialed}, caller ${c.result?.exitCode === 0 ? `saw ${c.result.saw}` : `failed (exit ${c.result?.exitCode}): ${c.result?.errors.split('\n').slice(-2).join(' ') ?? ''}`}, ledger ${c.row ? `${c.row.outcome} on ${c.row.channel_id}` : 'no record'}`;
}

function tally(values: string[]): Record<string, number> {
  return values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
}

/** Polls until `cond` holds; the time it first held, or null after `timeoutMs`. */
async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return Date.now();
    await sleep(everyMs);
  }
  return null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
