// Runs `sanscode api` as a separate OS process, as production does, so tests can prove that
// several API processes sharing one database keep its guarantees.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './wait.js';

const root = path.resolve(import.meta.dirname, '../..');

/** Starting tsx, migrating and listening can take long on a loaded machine; a test waits this long. */
const START_TIMEOUT_MS = 60_000;

export interface ApiProcess {
  base: string;
  stop(): Promise<void>;
}

/** Resolves once the process answers /healthz; rejects (and kills it) if it exits or stays silent. */
export async function startApiProcess(databaseUrl: string, adminToken: string): Promise<ApiProcess> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bin/sanscode.ts'), 'api'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, ADMIN_TOKEN: adminToken, PORT: String(port), METRICS_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  const healthy = async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sanscode api (port ${port}) exited with ${child.exitCode ?? child.signalCode} before answering /healthz; see its stderr above`);
    }
    try {
      return (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false; // not listening yet
    }
  };
  try {
    await waitFor(`sanscode api to answer ${base}/healthz`, healthy, START_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, stop };
}
