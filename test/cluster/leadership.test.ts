// One active IVR worker per node, enforced through PostgreSQL (ivr/leadership.ts): whatever
// the number of workers started for a node, one serves; a standby takes over within seconds
// of the holder's death (kill -9 included); a holder whose lock session is cut stops serving
// at once. No Asterisk here: the role is a stand-in that records when it runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { NODE_LOCK_CLASS } from '../../db/node-lock.js';
import { Leadership } from '../../ivr/leadership.js';
import { serverUrl } from '../support/db.js';
import { waitFor } from '../support/wait.js';

const log = pino({ level: 'silent' });
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
const started: Leadership[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.stop()));
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(() => admin.end());

/** A worker in this process whose role records whether it is serving. */
function worker(node: string) {
  const state = { serving: false, starts: 0, stoppedAt: 0 };
  const leadership = new Leadership({ databaseUrl: serverUrl, node }, log, () => {
    state.serving = true;
    state.starts++;
    return {
      stop: async () => {
        state.serving = false;
        state.stoppedAt = Date.now();
      },
    };
  });
  started.push(leadership);
  leadership.start();
  return { leadership, state };
}

/** A worker in its own process, to be killed with SIGKILL. */
async function workerProcess(node: string): Promise<{ child: ChildProcess; leading: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'hold-leadership.ts'), serverUrl, node], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const leading = new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on('line', (l) => l === 'leading' && resolve()));
  return { child, leading };
}

async function holders(node: string): Promise<string[]> {
  const rows = await admin<{ application_name: string }[]>`
    select a.application_name from pg_locks l join pg_stat_activity a using (pid)
     where l.locktype = 'advisory' and l.classid = ${NODE_LOCK_CLASS} and l.objsubid = 2 and l.granted
       and a.application_name like ${`sanscode-ivr:${node}:%`}`;
  return rows.map((r) => r.application_name);
}

const nodeName = () => `test-${randomBytes(4).toString('hex')}`;

describe('IVR leadership per Asterisk node', () => {
  it('names the node after ARI_URL unless IVR_NODE says otherwise', () => {
    expect(loadConfig({ ARI_URL: 'http://127.0.0.2:8188' }).IVR_NODE).toBe('127.0.0.2:8188');
    expect(loadConfig({ ARI_URL: 'http://127.0.0.2:8188', IVR_NODE: 'a' }).IVR_NODE).toBe('a');
    expect(() => loadConfig({ IVR_NODE: 'a b' })).toThrow(/IVR_NODE/);
  });

  it('elects exactly one of three workers of a node; another node has its own', async () => {
    const node = nodeName();
    const workers = [worker(node), worker(node), worker(node)];
    const other = worker(nodeName());
    await waitFor('both nodes served', () => workers.some((w) => w.state.serving) && other.state.serving);
    // Standbys retry every second: give them a few tries to (wrongly) get in.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(workers.filter((w) => w.state.serving)).toHaveLength(1);
    expect(workers.map((w) => w.state.starts).reduce((a, b) => a + b)).toBe(1);
    expect(await holders(node)).toHaveLength(1);
  });

  it('hands over within 5 s when the serving worker process is killed with SIGKILL', async () => {
    const node = nodeName();
    const first = await workerProcess(node);
    await first.leading;
    const standby = worker(node);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(standby.state.serving).toBe(false);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await waitFor('the standby serving', () => standby.state.serving, 5_000);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(await holders(node)).toEqual([`sanscode-ivr:${node}:${process.pid}`]);
  });

  it('a worker started by mistake for a served node stays on standby', async () => {
    const node = nodeName();
    const first = await workerProcess(node);
    await first.leading;
    const second = await workerProcess(node);
    let secondLed = false;
    void second.leading.then(() => (secondLed = true));
    await new Promise((r) => setTimeout(r, 3_000));
    expect(secondLed).toBe(false);
    first.child.kill('SIGKILL');
    await second.leading;
  });

  it('retries about once a second while the database is unreachable, and never serves', async () => {
    const lines: string[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    let served = false;
    const unreachable = new Leadership({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none', node: nodeName() }, capture, () => {
      served = true;
      return { stop: async () => {} };
    });
    started.push(unreachable);
    unreachable.start();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(served).toBe(false);
    const attempts = lines.filter((l) => l.includes('IVR leadership check failed')).length;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(5);
  });

  it('stops serving at once when its lock session is cut, and a standby takes over', async () => {
    const node = nodeName();
    const a = worker(node);
    await waitFor('a serving', () => a.state.serving);
    const b = worker(node);
    // Cut the holder's lock connection on the server (as a database failover would).
    const cutAt = Date.now();
    await admin`select pg_terminate_backend(a.pid) from pg_stat_activity a where a.application_name = ${`sanscode-ivr:${node}:${process.pid}`} and exists (select 1 from pg_locks l where l.pid = a.pid and l.locktype = 'advisory' and l.granted and l.classid = ${NODE_LOCK_CLASS})`;
    await waitFor('a fenced', () => a.state.stoppedAt > 0);
    expect(a.state.stoppedAt - cutAt).toBeLessThan(1_000);
    // Exactly one of them serves again within a few seconds.
    await waitFor('one worker serving again', () => a.state.serving !== b.state.serving, 5_000);
    expect(await holders(node)).toHaveLength(1);
  });
});
