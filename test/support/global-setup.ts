// Vitest global setup: a test run leaves nothing running behind it. End-to-end files start the
// local Asterisk when they need it (test/support/stack.ts); if it was not running before this
// run, the teardown stops it, so the next stack on its ports never talks to a leftover one.
// scripts/test.sh does the same when vitest itself is interrupted.
import { asterisk } from './asterisk.js';

export default async function setup(): Promise<() => Promise<void>> {
  const wasRunning = await asterisk('status').then(
    () => true,
    () => false,
  );
  return async () => {
    if (!wasRunning) await asterisk('stop');
  };
}
