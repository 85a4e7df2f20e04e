// Starts the project's local Asterisk 22 (scripts/asterisk.sh: a Debian sid chroot built on
// first use) for the end-to-end tests. Idempotent: reuses a running instance.
//
// A start that finds Asterisk down leaves a mark for the test run (the file the global setup
// names in SANSCODE_TEST_RUN_STARTED_ASTERISK): the teardown stops only an Asterisk this run
// started, never one another run (or a developer's `npm run stack`) started meanwhile.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../scripts/asterisk.sh');

/** Set by test/support/global-setup.ts for the workers of one vitest run. */
export const STARTED_MARK_ENV = 'SANSCODE_TEST_RUN_STARTED_ASTERISK';

export async function asterisk(command: 'start' | 'stop' | 'status' | 'rx', ...args: string[]): Promise<string> {
  const mark = process.env[STARTED_MARK_ENV];
  if (command === 'start' && mark && !(await isRunning())) writeFileSync(mark, `${process.pid}\n`);
  const { stdout } = await run('bash', [script, command, ...args], { timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export function isRunning(): Promise<boolean> {
  return run('bash', [script, 'status'], { timeout: 60_000 }).then(
    () => true,
    () => false,
  );
}
