// Places real SIP calls with SIPp (Debian package sip-tester) using the scenarios in
// test/sipp/. A scenario's exit code says what the caller experienced: 0 means the call went
// the way the scenario expects (answered, or never answered), anything else that it did not.
// The chaos scenarios (uac-chaos-*) pass on any orderly ending and say which on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SCENARIOS = path.resolve(import.meta.dirname, '../../test/sipp');
let nextPort = 5070 + Math.floor(Math.random() * 200) * 2;
// A SIPp process never outlives the test process that started it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export type Scenario = 'uac-answered-wait-bye' | 'uac-answered-hangup' | 'uac-not-answered' | 'uac-chaos-hangup' | 'uac-chaos-cancel' | 'uac-code-star' | 'uac-timed';

/** How a chaos scenario's call ended, as the caller saw it (its caller-saw.txt). */
export type CallerSaw = 'refused' | 'caller-bye' | 'ivr-bye';

export interface CallResult {
  exitCode: number;
  /** SIPp's error trace, if any: the first thing to read when a call did not go as expected. */
  errors: string;
  /** uac-chaos-*: how the call ended for the caller (null: the scenario said nothing). */
  saw: CallerSaw | null;
  /** uac-timed: seconds from the answer (200 OK acknowledged) to the BYE, as the caller saw them. */
  sipSeconds: number | null;
}

export interface CallOptions {
  scenario: Scenario;
  /** A scenario file of its own instead (e.g. the cluster test's, which follows a proxy's route set). */
  scenarioFile?: string;
  dialed: string;
  /** Caller ID sent in From; 'anonymous' sends a withheld caller. */
  caller: string;
  /** uac-answered-hangup, uac-chaos-hangup, uac-timed: how long the caller stays after the answer;
   *  uac-chaos-cancel: how long after the first 183 the caller cancels. */
  holdMs?: number;
  /** Local SIP port (default: a new one per call). Concurrent calls need distinct ports. */
  port?: number;
  /** Local media port (default: SIPp's, 6000 or the next free one). Keep them 4 apart. */
  mediaPort?: number;
  sipServer?: string;
  timeoutSeconds?: number;
}

export async function placeCall(opts: CallOptions): Promise<CallResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-sipp-'));
  const csv = path.join(dir, 'callers.csv');
  writeFileSync(csv, `SEQUENTIAL\n${opts.caller};\n`);
  // A scenario's media (<scenario>.pcap, played with play_pcap_audio) goes next to it.
  const media = path.join(SCENARIOS, `${opts.scenario}.pcap`);
  if (existsSync(media)) copyFileSync(media, path.join(dir, `${opts.scenario}.pcap`));
  const port = opts.port ?? nextPort;
  if (opts.port === undefined) nextPort += 2;
  const args = [
    '-sf', opts.scenarioFile ?? path.join(SCENARIOS, `${opts.scenario}.xml`),
    '-inf', csv,
    '-s', opts.dialed,
    opts.sipServer ?? '127.0.0.1:5060',
    '-i', '127.0.0.1',
    '-p', String(port),
    '-m', '1',
    // Fail when an expected message (the IVR's BYE included) does not come in time.
    '-recv_timeout', String((opts.timeoutSeconds ?? 40) * 1000),
    '-trace_err', '-error_file', path.join(dir, 'errors.log'),
    '-nostdin',
  ];
  if (opts.holdMs !== undefined) args.push('-d', String(opts.holdMs));
  if (opts.mediaPort !== undefined) args.push('-mp', String(opts.mediaPort));
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    child.on('exit', () => running.delete(child));
    // Belt and braces: never let a stuck SIPp hold the suite.
    const guard = setTimeout(() => child.kill('SIGKILL'), ((opts.timeoutSeconds ?? 40) + 30 + (opts.holdMs ?? 0) / 1000) * 1000);
    child.on('exit', () => clearTimeout(guard));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (stderr.trim()) writeFileSync(path.join(dir, 'stderr.log'), stderr);
      resolve(code ?? -1);
    });
  });
  const read = (name: string) => (existsSync(path.join(dir, name)) ? readFileSync(path.join(dir, name), 'utf8') : '');
  const errors = [read('errors.log'), read('stderr.log')].join('\n').trim();
  const saw = read('caller-saw.txt').trim().split('\n').at(-1);
  const answeredAt = Number.parseFloat(read('answered-at.txt'));
  const endedAt = Number.parseFloat(read('ended-at.txt'));
  const sipSeconds = Number.isFinite(answeredAt) && Number.isFinite(endedAt) ? endedAt - answeredAt : null;
  rmSync(dir, { recursive: true, force: true });
  return { exitCode, errors: errors.slice(-4000), saw: saw === 'refused' || saw === 'caller-bye' || saw === 'ivr-bye' ? saw : null, sipSeconds };
}
