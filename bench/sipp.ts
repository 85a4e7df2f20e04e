// The call bench's tools: SIPp runs (the load, in a process of its own) and the IVR worker as a
// separate process of the compiled build (`sanscode ivr`), whose log lines and memory the bench
// reads from outside.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiEntry, freePort, root, sleep, startServer, type ServerProcess } from './lib.js';

export interface SippSpec {
  /** Scenario file (absolute path). */
  scenario: string;
  /** The dialed number (or bench extension): SIPp's -s. */
  service: string;
  /** Caller numbers, used in turn (SIPp -inf, SEQUENTIAL); they wrap around when fewer than calls. */
  callers: string[];
  /** New calls per second (-r). */
  rate: number;
  /** Calls in all (-m); SIPp exits once they are all over. */
  calls: number;
  /** Local SIP port (-p); each concurrent SIPp needs its own. */
  port: number;
  /** Most calls up at once (-l); SIPp holds new calls back beyond it (default: no practical limit). */
  limit?: number;
  recvTimeoutMs?: number;
  /** Records each call's response time 1 (the scenario's rtd): INVITE to the message marked rtd. */
  rtt?: boolean;
  /**
   * Logs every SIP message with its time to the microsecond (-trace_msg) and measures each
   * call's INVITE → first 183 from it: SIPp's own response times are whole milliseconds on a
   * coarse clock (a plain-dialplan 183 reads 0 or 4 ms).
   */
  earlyMediaTimes?: boolean;
}

export interface SippResult {
  /** SIPp's exit status: 0 when every call followed the scenario. */
  code: number;
  successful: number;
  failed: number;
  /** Response time 1 of each successful call, in whole milliseconds (when spec.rtt). */
  rttMs: number[];
  /** Mean length of the successful calls, seconds (SIPp's CallLength). */
  callSeconds: number;
  /** INVITE sent → first 183 received, per call, in milliseconds (when spec.earlyMediaTimes). */
  earlyMediaMs: number[];
  /** Wall time of the run, seconds. */
  seconds: number;
  /** SIPp's working directory: its stat, rtt and error files (removed after a run without failures). */
  dir: string;
}

/** Runs one SIPp process to its end. Never throws on failed calls: they are counted. */
export async function runSipp(spec: SippSpec): Promise<SippResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-bench-sipp-'));
  writeFileSync(path.join(dir, 'callers.csv'), `SEQUENTIAL\n${spec.callers.map((c) => `${c};`).join('\n')}\n`);
  // Media port: SDP only (Asterisk's RTP to it is dropped); kept away from other SIPps' ports.
  const args = [spec.scenario, '-inf', 'callers.csv', '-s', spec.service, '127.0.0.1:5060', '-i', '127.0.0.1', '-p', String(spec.port), '-mp', String(16000 + 8 * (spec.port % 100))];
  args.push('-m', String(spec.calls), '-r', String(spec.rate), '-l', String(spec.limit ?? 5_000), '-recv_timeout', String(spec.recvTimeoutMs ?? 60_000), '-nostdin');
  args.push('-trace_stat', '-stf', 'stats.csv', '-fd', '3600', '-trace_err', '-error_file', 'errors.log');
  if (spec.rtt) args.push('-trace_rtt', '-rtt_freq', '1');
  if (spec.earlyMediaTimes) args.push('-trace_msg', '-message_file', 'messages.log');
  const started = performance.now();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('sipp', ['-sf', ...args], { cwd: dir, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? -1));
  });
  const seconds = (performance.now() - started) / 1000;
  const stats = lastStats(path.join(dir, 'stats.csv'));
  // Durations read HH:MM:SS:micros.
  const [h = NaN, m = NaN, sec = NaN, micros = NaN] = (stats['CallLength(C)'] ?? '').split(':').map(Number);
  const callSeconds = h * 3600 + m * 60 + sec + micros / 1e6;
  const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  // Lines: Date_ms;response_time_ms;rtd_no.
  const rttMs = rttFile
    ? readFileSync(path.join(dir, rttFile), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => Number(line.split(';')[1]))
        .filter((n) => Number.isFinite(n))
    : [];
  const earlyMediaMs = spec.earlyMediaTimes ? earlyMediaTimes(readFileSync(path.join(dir, 'messages.log'), 'utf8')) : [];
  const count = (name: string) => (stats[name] === undefined ? NaN : Number(stats[name]));
  // A failed run's files (errors.log: why each call failed) stay for a look; the others go.
  if (code === 0) rmSync(dir, { recursive: true, force: true });
  return { code, successful: count('SuccessfulCall(C)'), failed: count('FailedCall(C)'), callSeconds, rttMs, earlyMediaMs, seconds, dir };
}

/**
 * From SIPp's message log (each message headed `----- YYYY-MM-DD HH:MM:SS.micros`, then
 * "UDP message sent" or "received", then the message): per Call-ID, the first INVITE sent to
 * the first 183 received, in milliseconds.
 */
export function earlyMediaTimes(log: string): number[] {
  const invites = new Map<string, number>();
  const out: number[] = [];
  const done = new Set<string>();
  for (const block of log.split(/^-{10,} /m).slice(1)) {
    const stamp = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6})/.exec(block);
    const callId = /^Call-ID:\s*(\S+)/im.exec(block)?.[1];
    if (!stamp || !callId) continue;
    const ms = Date.parse(`${stamp[1]}T${stamp[2]}Z`) + Number(stamp[3]) / 1000;
    const firstLine = block.split('\n').find((l, i) => i > 1 && l.trim() !== '') ?? '';
    if (/sent/.test(block.slice(0, 80)) && firstLine.startsWith('INVITE ') && !invites.has(callId)) invites.set(callId, ms);
    else if (/received/.test(block.slice(0, 80)) && firstLine.startsWith('SIP/2.0 183') && invites.has(callId) && !done.has(callId)) {
      done.add(callId);
      out.push(ms - invites.get(callId)!);
    }
  }
  return out;
}

/** The cumulative counters of SIPp's stat file (its last line), by column name. */
function lastStats(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const lines = text.trim().split('\n');
  const names = lines[0]!.split(';');
  const values = lines.at(-1)!.split(';');
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? '']));
}

export interface IvrProcess extends ServerProcess {
  logFile: string;
  metricsPort: number;
  /** The 'call decision' lines written so far (the IVR's own timestamps), from `fromByte` on. */
  decisions(fromByte?: number): { decisionMs: number; action: string }[];
  /** Bytes of log written so far (to read only what a later run adds). */
  logSize(): number;
  /** A Prometheus gauge or counter of the IVR (its /metrics), e.g. sanscode_nodejs_heap_size_used_bytes. */
  metric(name: string): Promise<number>;
}

/**
 * `node dist/bin/sanscode.js ivr` on `databaseUrl`, logging at info to a file like production
 * does; resolves once /readyz says it serves its node (elected, ARI connected).
 */
export async function startIvrProcess(databaseUrl: string, opts: { nodeArgs?: string[] } = {}): Promise<IvrProcess> {
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const logFile = path.join(mkdtempSync(path.join(tmpdir(), 'sanscode-bench-ivr-')), 'ivr.log');
  const server = await startServer(
    [...(opts.nodeArgs ?? []), apiEntry(), 'ivr'],
    { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', HEALTH_PORT: String(healthPort), METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' },
    { port: healthPort, logFile, healthPath: '/readyz' },
  );
  const readLog = (fromByte = 0) => readFileSync(logFile).subarray(fromByte).toString('utf8');
  return {
    ...server,
    logFile,
    metricsPort,
    logSize: () => readFileSync(logFile).length,
    decisions(fromByte = 0) {
      const out: { decisionMs: number; action: string }[] = [];
      for (const line of readLog(fromByte).split('\n')) {
        if (!line.includes('"call decision"')) continue;
        const entry = JSON.parse(line) as { decisionMs?: number; action?: string };
        if (typeof entry.decisionMs === 'number') out.push({ decisionMs: entry.decisionMs, action: entry.action ?? '?' });
      }
      return out;
    },
    async metric(name: string) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
    },
  };
}

/** Waits until Asterisk holds no channel (the previous run's calls are all over). */
export async function channelsDrained(rx: (cmd: string) => Promise<string>, timeoutMs = 60_000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(500)) {
    const out = await rx('core show channels count');
    const m = /(\d+) active channels?/.exec(out);
    if (m && Number(m[1]) === 0) return true;
  }
  return false;
}

export const scenarios = {
  /** INVITE → 183 → CANCEL: the time to early media (bench/sipp/). */
  earlyMediaCancel: path.join(root, 'bench/sipp/uac-early-media-cancel.xml'),
  /** INVITE → 200 → the far end's BYE: an answered call held to its end (test/sipp/). */
  answeredWaitBye: path.join(root, 'test/sipp/uac-answered-wait-bye.xml'),
};
