// Places real SIP calls with SIPp (Debian package sip-tester) using the scenarios in
// test/sipp/. A scenario's exit code says what the caller experienced: 0 means the call went
// the way the scenario expects (answered, or never answered), anything else that it did not.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SCENARIOS = path.resolve(import.meta.dirname, '../sipp');
let nextPort = 5070 + Math.floor(Math.random() * 200) * 2;

export type Scenario = 'uac-answered-wait-bye' | 'uac-answered-hangup' | 'uac-not-answered';

export interface CallResult {
  exitCode: number;
  /** SIPp's error trace, if any: the first thing to read when a call did not go as expected. */
  errors: string;
}

export interface CallOptions {
  scenario: Scenario;
  dialed: string;
  /** Caller ID sent in From; 'anonymous' sends a withheld caller. */
  caller: string;
  /** For uac-answered-hangup: how long the caller stays after the answer. */
  holdMs?: number;
  sipServer?: string;
  timeoutSeconds?: number;
}

export async function placeCall(opts: CallOptions): Promise<CallResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-sipp-'));
  const csv = path.join(dir, 'callers.csv');
  writeFileSync(csv, `SEQUENTIAL\n${opts.caller};\n`);
  const port = nextPort;
  nextPort += 2;
  const args = [
    '-sf', path.join(SCENARIOS, `${opts.scenario}.xml`),
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
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    // Belt and braces: never let a stuck SIPp hold the suite.
    const guard = setTimeout(() => child.kill('SIGKILL'), ((opts.timeoutSeconds ?? 40) + 30) * 1000);
    child.on('exit', () => clearTimeout(guard));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (stderr.trim()) writeFileSync(path.join(dir, 'stderr.log'), stderr);
      resolve(code ?? -1);
    });
  });
  const errFile = path.join(dir, 'errors.log');
  const errors = [existsSync(errFile) ? readFileSync(errFile, 'utf8') : '', existsSync(path.join(dir, 'stderr.log')) ? readFileSync(path.join(dir, 'stderr.log'), 'utf8') : '']
    .join('\n')
    .trim();
  return { exitCode, errors: errors.slice(-4000) };
}
