// Starts the project's local Asterisk 22 (scripts/asterisk.sh: a Debian sid chroot built on
// first use) for the end-to-end tests. Idempotent: reuses a running instance.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../scripts/asterisk.sh');

export async function asterisk(command: 'start' | 'stop' | 'status' | 'rx', ...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [script, command, ...args], { timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
