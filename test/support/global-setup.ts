// Vitest global setup: a test run leaves nothing running behind it. End-to-end files start the
// local Asterisk when they need it (test/support/stack.ts), and a start that finds it down
// marks the run (test/support/asterisk.ts). The teardown stops Asterisk if this run started it
// and it was not running before the run, so the next stack on its ports never talks to a
// leftover one, and a unit-only run never stops an Asterisk someone else started meanwhile.
// scripts/test.sh does the same when vitest itself is interrupted.
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { asterisk, isRunning, STARTED_MARK_ENV } from './asterisk.js';

export default async function setup(): Promise<() => Promise<void>> {
  const wasRunning = await isRunning();
  const mark = path.join(tmpdir(), `sanscode-test-run-${process.pid}-started-asterisk`);
  rmSync(mark, { force: true });
  // Inherited by the test workers, which vitest starts after the global setup.
  process.env[STARTED_MARK_ENV] = mark;
  return async () => {
    const startedHere = existsSync(mark);
    rmSync(mark, { force: true });
    if (startedHere && !wasRunning) await asterisk('stop');
  };
}
