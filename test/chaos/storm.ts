// The call storm: hundreds of real SIP calls (SIPp → Asterisk → `sanscode all`, run as its own
// process like in production), each caller hanging up at an instant drawn from a seeded PRNG
// across every phase of a call, mixed with withheld callers, callers with no purchase,
// simultaneous calls for one purchase and dynamic-number calls. Afterwards it checks, from
// the database and the API, what must hold whatever the callers did (see checkInvariants).
//
// Used by `npm run chaos -- --seed N --calls N` (scripts/chaos.ts) and, smaller and with a
// fixed seed, by test/e2e/chaos.test.ts. The same seed draws the same calls; what Asterisk
// and the scheduler make of their timing varies, which is the point.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import postgres from 'postgres';
import { webhookTypeOf } from '../../domain/webhook-event.js';
import { asterisk } from '../support/asterisk.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { placeCall, type CallResult } from '../../scripts/lib/sipp.js';

const root = path.resolve(import.meta.dirname, '../..');
const ADMIN = 'chaos-admin-token-0123456789';

export interface StormOptions {
  seed: number;
  calls: number;
  /** Calls in flight at once (each is one SIPp process; 2 cores: keep it near 10). */
  concurrency?: number;
  /** Progress lines. */
  say?: (line: string) => void;
}

/** When the caller hangs up (see pickHangup). */
export type Phase = 'early-media' | 'after-200' | 'greeting' | 'before-min' | 'at-min' | 'after-min' | 'after-count' | 'never';
const PHASES: Phase[] = ['early-media', 'after-200', 'greeting', 'before-min', 'at-min', 'after-min', 'after-count', 'never'];

export interface PlannedCall {
  index: number;
  job: number;
  kind: JobKind;
  /** National number dialed, as the carrier passes it. */
  dialed: string;
  /** Caller ID in the SIP From (international without +), or 'anonymous'. */
  caller: string;
  phase: Phase;
  /** uac-chaos-hangup: ms after the 200 OK; uac-chaos-cancel: ms after the first 183. */
  holdMs: number;
  scenario: 'uac-chaos-hangup' | 'uac-chaos-cancel';
  purchaseId?: string;
  result?: CallResult;
}

export interface StormReport {
  seed: number;
  calls: PlannedCall[];
  failures: string[];
  /** How the calls ended, as the callers saw them and as the ledger recorded them. */
  stats: { callerSaw: Record<string, number>; outcomes: Record<string, number>; purchases: Record<string, number> };
  logFile: string;
  seconds: number;
}

type JobKind = 'buyer' | 'burst' | 'dynamic' | 'withheld' | 'stranger' | 'unknown-number';

/** A small, fast, seedable PRNG (mulberry32): the same seed draws the same storm. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}
type Rng = ReturnType<typeof prng>;

// The offers of the storm. Number B plays a price announcement (3.3 s of early media) before
// answering; the others answer at once. Greetings last 6 to 7 s, confirmations 3 s.
interface OfferPlan {
  key: 'A' | 'B' | 'C' | 'D';
  mode: 'caller_id' | 'dynamic_number';
  callsRequired: number;
  minCallSeconds: number;
  numbers: string[];
}
const GREETING_MS = 6_500;
const UNKNOWN_NUMBER = '0899599999';

/** The hang-up instant of a caller who would be answered, drawn across the phases of a call. */
function pickHangup(rng: Rng, offer: OfferPlan, early: boolean): Pick<PlannedCall, 'phase' | 'holdMs' | 'scenario'> {
  const phase = rng.pick(PHASES);
  const min = offer.minCallSeconds * 1000;
  const hangup = (holdMs: number) => ({ phase, holdMs, scenario: 'uac-chaos-hangup' as const });
  switch (phase) {
    case 'early-media':
      // With no early media (no price announcement) the answer comes first: the caller then
      // hangs up as soon as answered.
      return { phase, holdMs: rng.int(0, early ? 3_500 : 300), scenario: 'uac-chaos-cancel' };
    case 'after-200':
      return hangup(rng.int(0, 50));
    case 'greeting':
      return hangup(rng.int(50, GREETING_MS));
    case 'before-min':
      return hangup(rng.int(min - 300, min - 20));
    case 'at-min':
      return hangup(rng.int(min - 20, min + 20));
    case 'after-min':
      return hangup(rng.int(min + 20, min + 300));
    case 'after-count':
      return hangup(rng.int(Math.max(min, GREETING_MS) + 200, Math.max(min, GREETING_MS) + 3_000));
    case 'never':
      return hangup(NEVER_MS);
  }
}
/** "Never" hangs up: far longer than any call the IVR ends itself. */
const NEVER_MS = 60_000;

/** A caller we will refuse: hangs up during the early-media explanation, or waits for the end. */
function pickRefusedHangup(rng: Rng): Pick<PlannedCall, 'phase' | 'holdMs' | 'scenario'> {
  return rng.next() < 0.5
    ? { phase: 'early-media', holdMs: rng.int(0, 5_000), scenario: 'uac-chaos-cancel' }
    : { phase: 'never', holdMs: NEVER_MS, scenario: 'uac-chaos-hangup' };
}

interface Job {
  index: number;
  kind: JobKind;
  offer?: OfferPlan;
  /** Steps run one after the other; the calls of a step start together. */
  steps: PlannedCall[][];
}

function planStorm(seed: number, total: number, offers: Record<OfferPlan['key'], OfferPlan>): Job[] {
  const rng = prng(seed);
  const jobs: Job[] = [];
  let index = 0;
  const kinds: [JobKind, number][] = [
    ['buyer', 0.42],
    ['burst', 0.13],
    ['dynamic', 0.17],
    ['withheld', 0.1],
    ['stranger', 0.12],
    ['unknown-number', 0.06],
  ];
  while (index < total) {
    const j = jobs.length;
    let r = rng.next();
    const kind = kinds.find(([, w]) => (r -= w) < 0)?.[0] ?? 'buyer';
    const job: Job = { index: j, kind, steps: [] };
    const call = (dialed: string, caller: string, when: Pick<PlannedCall, 'phase' | 'holdMs' | 'scenario'>): PlannedCall => ({ index: index++, job: j, kind, dialed, caller, ...when });
    const buyer = `336${String(12_000_000 + j).padStart(8, '0')}`;
    if (kind === 'buyer' || kind === 'burst') {
      const offer = kind === 'burst' ? rng.pick([offers.B, offers.C]) : rng.pick([offers.A, offers.B, offers.C]);
      job.offer = offer;
      const dialed = offer.numbers[0]!;
      const early = offer.key === 'B';
      // A burst: several calls for one purchase at the same instant, then the rest one by one.
      if (kind === 'burst') job.steps.push(Array.from({ length: rng.int(2, 3) }, () => call(dialed, buyer, pickHangup(rng, offer, early))));
      const more = offer.callsRequired + rng.int(0, 1) - (job.steps[0]?.length ?? 0);
      for (let n = 0; n < Math.max(more, 1); n++) job.steps.push([call(dialed, buyer, pickHangup(rng, offer, early))]);
    } else if (kind === 'dynamic') {
      job.offer = offers.D;
      // Whoever calls the lent number counts, withheld or not; sometimes two at once.
      const anyone = () => (rng.next() < 0.4 ? 'anonymous' : `336${String(55_000_000 + rng.int(0, 999_999)).padStart(8, '0')}`);
      for (let n = 0; n < offers.D.callsRequired + rng.int(0, 1); n++) {
        job.steps.push(Array.from({ length: rng.next() < 0.25 ? 2 : 1 }, () => call('', anyone(), pickHangup(rng, offers.D, false))));
      }
    } else if (kind === 'withheld') {
      job.steps.push([call(rng.pick([offers.A, offers.B, offers.C]).numbers[0]!, 'anonymous', pickRefusedHangup(rng))]);
    } else if (kind === 'stranger') {
      job.steps.push([call(rng.pick([offers.A, offers.B, offers.C]).numbers[0]!, `336${String(98_000_000 + j).padStart(8, '0')}`, pickRefusedHangup(rng))]);
    } else {
      job.steps.push([call(UNKNOWN_NUMBER, buyer, pickRefusedHangup(rng))]);
    }
    jobs.push(job);
  }
  return jobs;
}

/** Slots for calls in flight, handed out first come, first served. */
class Slots {
  private readonly free: number[];
  private readonly waiting: ((slot: number) => void)[] = [];
  constructor(n: number) {
    this.free = Array.from({ length: n }, (_, i) => i);
  }
  take(): Promise<number> {
    const slot = this.free.shift();
    return slot !== undefined ? Promise.resolve(slot) : new Promise((resolve) => this.waiting.push(resolve));
  }
  give(slot: number): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }
}

/** `sanscode all` as its own process, with its log on disk and its fatal lines collected. */
interface Service {
  child: ChildProcess;
  base: string;
  fatal: string[];
  exited: Promise<number | null>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startService(databaseUrl: string, logFile: string): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bin/sanscode.ts'), 'all'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, ADMIN_TOKEN: ADMIN, PORT: String(port), HOST: '127.0.0.1', METRICS_PORT: '0', LOG_LEVEL: 'info', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', DEMO: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Whatever happens to this process (Ctrl-C included), the service does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  const out = createWriteStream(logFile);
  child.stderr!.pipe(out, { end: false });
  const fatal: string[] = [];
  let ariConnected = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out.write(line + '\n');
    if (line.includes('"msg":"ARI connected"')) ariConnected = true;
    if (/"level":60/.test(line)) fatal.push(line.slice(0, 600));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sanscode all exited with ${child.exitCode} at start (log: ${logFile})`);
    if (i > 600) throw new Error(`sanscode all not ready after 60 s (log: ${logFile})`);
    const healthy = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (healthy && ariConnected) break;
    await sleep(100);
  }
  return { child, base, fatal, exited };
}

async function api(base: string, method: string, url: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function expectOk(what: string, res: Promise<{ status: number; body: any }>): Promise<any> {
  const r = await res;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A webhook receiver that accepts everything: the outbox is what the invariants read. */
async function webhookReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function runStorm(opts: StormOptions): Promise<StormReport> {
  const started = Date.now();
  const say = opts.say ?? (() => {});
  const concurrency = opts.concurrency ?? 10;
  mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
  const logFile = path.join(root, 'test-artifacts', `chaos-${opts.seed}.log`);

  // Pool numbers are drawn per storm so that any number of dynamic jobs gets its own.
  const offers: Record<OfferPlan['key'], OfferPlan> = {
    A: { key: 'A', mode: 'caller_id', callsRequired: 1, minCallSeconds: 2, numbers: ['0899500001'] },
    B: { key: 'B', mode: 'caller_id', callsRequired: 2, minCallSeconds: 2, numbers: ['0899500002'] },
    C: { key: 'C', mode: 'caller_id', callsRequired: 3, minCallSeconds: 3, numbers: ['0899500003'] },
    D: { key: 'D', mode: 'dynamic_number', callsRequired: 2, minCallSeconds: 2, numbers: [] },
  };
  const jobs = planStorm(opts.seed, opts.calls, offers);
  const dynamicJobs = jobs.filter((j) => j.kind === 'dynamic').length;
  offers.D.numbers = Array.from({ length: Math.max(dynamicJobs, 1) }, (_, i) => `0899${String(600_000 + i).padStart(6, '0')}`);
  const calls = jobs.flatMap((j) => j.steps.flat());
  say(`chaos: seed ${opts.seed}, ${calls.length} calls in ${jobs.length} jobs, ${concurrency} at a time (log: ${logFile})`);

  await asterisk('start');
  // Another IVR on the same application would take some of the calls (npm run stack, or an
  // end-to-end stack still closing): wait for it to go, or refuse to run.
  for (let i = 0; (await asterisk('rx', 'ari show apps')).includes('sanscode'); i++) {
    if (i === 50) throw new Error('another IVR holds the sanscode ARI application (is npm run stack running?)');
    await sleep(100);
  }
  const t: TestDatabase = await createTestDatabase();
  const hooks = await webhookReceiver();
  let service: Service | undefined;
  const sql = postgres(t.url, { max: 2, onnotice: () => {} });
  try {
    service = await startService(t.url, logFile);
    const base = service.base;
    const merchant = await expectOk('merchant', api(base, 'POST', '/v1/admin/merchants', ADMIN, { name: 'Chaos' }));
    await expectOk('webhook', api(base, 'PUT', '/v1/webhook', merchant.apiKey, { url: hooks.url }));
    const offerIds: Partial<Record<OfferPlan['key'], string>> = {};
    for (const o of Object.values(offers)) {
      const body =
        o.mode === 'caller_id'
          ? { purchaseTtlSeconds: 3600 }
          : { holdSeconds: 3600, maxHoldSeconds: 3600, quarantineSeconds: 3600 };
      const created = await expectOk(
        `offer ${o.key}`,
        api(base, 'POST', '/v1/admin/offers', ADMIN, { merchantId: merchant.id, name: `chaos ${o.key}`, language: 'fr', mode: o.mode, callsRequired: o.callsRequired, minCallSeconds: o.minCallSeconds, numbers: o.numbers, ...body }),
      );
      offerIds[o.key] = created.id;
    }
    // Any installed sound will do as a price announcement: 3.3 s of free early media.
    await expectOk('price announcement', api(base, 'PUT', `/v1/admin/numbers/${offers.B.numbers[0]}`, ADMIN, { priceAnnouncement: 'sanscode/please-hold' }));

    const slots = new Slots(concurrency);
    let done = 0;
    const place = async (c: PlannedCall) => {
      const slot = await slots.take();
      try {
        c.result = await placeCall({
          scenario: c.scenario,
          dialed: c.dialed,
          caller: c.caller,
          holdMs: c.holdMs,
          // A new SIP port per call (a late retransmission never reaches the next caller),
          // media ports 4 apart per slot, clear of Asterisk's RTP range (10000-11999).
          port: 21_000 + 2 * (c.index % 2_000),
          mediaPort: 16_000 + 8 * slot,
          timeoutSeconds: 60,
        });
      } finally {
        slots.give(slot);
      }
      if (++done % 20 === 0) say(`chaos: ${done}/${calls.length} calls done`);
    };
    await Promise.all(
      jobs.map(async (job) => {
        if (job.kind === 'buyer' || job.kind === 'burst' || job.kind === 'dynamic') {
          const purchase = await expectOk(
            `purchase for job ${job.index}`,
            api(base, 'POST', '/v1/purchases', merchant.apiKey, job.kind === 'dynamic' ? { offerId: offerIds.D } : { offerId: offerIds[job.offer!.key], callerNumber: `+${job.steps[0]![0]!.caller}` }),
          );
          for (const c of job.steps.flat()) {
            c.purchaseId = purchase.id;
            if (job.kind === 'dynamic') c.dialed = `0${String(purchase.numberToCall).slice(3)}`;
          }
        }
        for (const step of job.steps) await Promise.all(step.map(place));
      }),
    );
    say('chaos: all calls placed; checking invariants');
    const failures = await checkInvariants(sql, service, merchant.apiKey, calls);
    const stats = await statistics(sql, calls);
    // Stopping in order is part of the contract too.
    service.child.kill('SIGTERM');
    const code = await Promise.race([service.exited, sleep(20_000).then(() => 'timeout' as const)]);
    if (code !== 0) failures.push(`process: SIGTERM did not stop it cleanly (exit ${code})`);
    return { seed: opts.seed, calls, failures, stats, logFile, seconds: Math.round((Date.now() - started) / 1000) };
  } finally {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await sql.end();
    await hooks.close();
    await t.drop();
  }
}

const describeCall = (c: PlannedCall) =>
  `#${c.index} job ${c.job} (${c.kind}) ${c.caller} → ${c.dialed}: ${c.phase}, ${c.scenario} -d ${c.holdMs}` +
  (c.result ? ` → exit ${c.result.exitCode}, caller saw ${c.result.saw ?? 'nothing'}` : '') +
  (c.purchaseId ? `, purchase ${c.purchaseId}` : '');

async function checkInvariants(sql: postgres.Sql, service: Service, merchantKey: string, calls: PlannedCall[]): Promise<string[]> {
  const failures: string[] = [];
  const fail = (what: string, related: PlannedCall[] = []) => failures.push([what, ...related.map((c) => `    ${describeCall(c)}`)].join('\n'));

  // Every caller has hung up or been hung up on; the IVR closes records within seconds (it
  // waits up to 5 s for Asterisk to report a channel's end).
  for (let i = 0; i < 150; i++) {
    const [open] = await sql<{ n: number }[]>`select count(*)::int as n from calls where ended_at is null or outcome = 'in_progress'`;
    if (open!.n === 0) break;
    await sleep(200);
  }

  // 1. The process is alive, answers, and never logged a fatal error.
  if (service.child.exitCode !== null) fail(`process: sanscode all exited with ${service.child.exitCode}`);
  else if (!(await fetch(`${service.base}/healthz`).then((r) => r.ok, () => false))) fail('process: /healthz does not answer');
  for (const line of service.fatal) fail(`process: fatal log line ${line}`);

  // 2. Every call reached the IVR and its record is closed.
  const rows = await sql<{ channel_id: string; dialed_number: string | null; caller_number: string | null; outcome: string; answered_at: Date | null; ended_at: Date | null; purchase_id: string | null }[]>`
    select channel_id, dialed_number, caller_number, outcome, answered_at, ended_at, purchase_id from calls`;
  if (rows.length !== calls.length) fail(`calls: ${calls.length} placed, ${rows.length} recorded`);
  const e164 = (national: string) => `+33${national.slice(1)}`;
  const callsTo = (dialed: string | null) => calls.filter((c) => e164(c.dialed) === dialed);
  for (const r of rows.filter((r) => r.outcome === 'in_progress' || !r.ended_at)) {
    fail(`call ${r.channel_id}: left ${r.outcome}${r.ended_at ? '' : ', never ended'}`, callsTo(r.dialed_number).filter((c) => !r.caller_number || `+${c.caller}` === r.caller_number));
  }
  // 3. No answered call lacks a purchase; no refused call was answered.
  for (const r of rows.filter((r) => r.answered_at && !r.purchase_id)) fail(`call ${r.channel_id}: answered without a purchase (${r.outcome})`, callsTo(r.dialed_number));
  const refusals = ['anonymous', 'no_purchase', 'unknown_number', 'expired', 'call_in_progress', 'number_not_lent', 'failed'];
  for (const r of rows.filter((r) => r.answered_at && refusals.includes(r.outcome))) fail(`call ${r.channel_id}: refused (${r.outcome}) yet answered`, callsTo(r.dialed_number));

  // 4. The callers' side: every SIPp call ended in order, callers who never hang up were hung
  //    up on (nobody left billed on the line), and each answer a caller got is in the ledger.
  for (const c of calls) {
    if (!c.result || c.result.exitCode !== 0 || !c.result.saw) fail(`caller: SIPp did not end in order:\n${c.result?.errors ?? 'no result'}`, [c]);
    else if (c.phase === 'never' && c.result.saw === 'caller-bye') fail('caller: never hung up on by the IVR', [c]);
  }
  const answeredBySipp = new Map<string, number>();
  for (const c of calls) if (c.result?.saw === 'caller-bye' || c.result?.saw === 'ivr-bye') answeredBySipp.set(e164(c.dialed), (answeredBySipp.get(e164(c.dialed)) ?? 0) + 1);
  const answeredInLedger = new Map<string, number>();
  for (const r of rows) if (r.answered_at && r.dialed_number) answeredInLedger.set(r.dialed_number, (answeredInLedger.get(r.dialed_number) ?? 0) + 1);
  for (const number of new Set([...answeredBySipp.keys(), ...answeredInLedger.keys()])) {
    const [sipp, ledger] = [answeredBySipp.get(number) ?? 0, answeredInLedger.get(number) ?? 0];
    if (sipp !== ledger) fail(`number ${number}: ${sipp} calls answered on the SIP side, ${ledger} in the ledger`, callsTo(number));
  }

  // 5. Purchases: counted calls match, never exceed what is required, complete exactly once,
  //    the API agrees with the database, and each webhook-bearing event has one outbox row.
  const purchases = await sql<{ id: string; status: string; calls_required: number; calls_counted: number; counted_rows: number; completed_events: number }[]>`
    select p.id, p.status, p.calls_required, p.calls_counted,
      (select count(*)::int from calls c where c.purchase_id = p.id and c.outcome = 'counted') as counted_rows,
      (select count(*)::int from purchase_events e where e.purchase_id = p.id and e.type = 'completed') as completed_events
    from purchases p`;
  const ofPurchase = (id: string) => calls.filter((c) => c.purchaseId === id);
  for (const p of purchases) {
    if (p.calls_counted !== p.counted_rows) fail(`purchase ${p.id}: callsCounted ${p.calls_counted} but ${p.counted_rows} counted calls`, ofPurchase(p.id));
    if (p.calls_counted > p.calls_required) fail(`purchase ${p.id}: ${p.calls_counted} calls counted of ${p.calls_required} required`, ofPurchase(p.id));
    if ((p.status === 'completed') !== (p.calls_counted === p.calls_required)) fail(`purchase ${p.id}: ${p.status} with ${p.calls_counted}/${p.calls_required} calls`, ofPurchase(p.id));
    if (p.status === 'completed' && p.completed_events !== 1) fail(`purchase ${p.id}: ${p.completed_events} completed events`, ofPurchase(p.id));
  }
  const hooks = await sql<{ purchase_id: string; id: number; type: string; deliveries: number }[]>`
    select e.purchase_id, e.id, e.type, (select count(*)::int from webhook_deliveries d where d.event_id = e.id) as deliveries
    from purchase_events e`;
  for (const h of hooks) {
    // The domain says which purchase events merchants are told about; code events queue their own.
    const expected = webhookTypeOf(h.type) !== null || h.type.startsWith('code_') ? 1 : 0;
    if (h.deliveries !== expected) fail(`purchase ${h.purchase_id}: event ${h.id} (${h.type}) has ${h.deliveries} webhook rows, expected ${expected}`, ofPurchase(h.purchase_id));
  }
  // What the merchant reads through the API agrees with the ledger.
  for (const p of service.child.exitCode === null ? purchases : []) {
    const seen = await api(service.base, 'GET', `/v1/purchases/${p.id}`, merchantKey).catch((err: Error) => ({ status: 0, body: { error: err.message } }));
    if (seen.status !== 200 || seen.body.callsCounted !== p.counted_rows || seen.body.status !== p.status) {
      fail(`purchase ${p.id}: the API says ${seen.status} ${JSON.stringify({ status: seen.body?.status, callsCounted: seen.body?.callsCounted })}, the ledger ${p.status} with ${p.counted_rows} counted calls`, ofPurchase(p.id));
    }
  }
  return failures;
}

async function statistics(sql: postgres.Sql, calls: PlannedCall[]): Promise<StormReport['stats']> {
  const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
  const outcomes = await sql<{ outcome: string }[]>`select outcome from calls`;
  const purchases = await sql<{ status: string }[]>`select status from purchases`;
  return {
    callerSaw: tally(calls.map((c) => c.result?.saw ?? 'nothing')),
    outcomes: tally(outcomes.map((o) => o.outcome)),
    purchases: tally(purchases.map((p) => p.status)),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
