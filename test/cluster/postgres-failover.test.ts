// What a PostgreSQL failover looks like from sanscode, without building one: (1) a multi-host
// DATABASE_URL with target_session_attrs=primary finds the live server when the first host is
// down (as after a failover: the old primary gone, the promoted one listed next); (2) a ledger
// transaction cut by a lost connection is never half-applied, and running it again applies it
// once. Production failover itself is Patroni's or the managed service's (README, Scale-out).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { openDatabase } from '../../db/client.js';
import { countCall, createPurchase, getPurchase, markAnswered } from '../../db/ledger/index.js';
import { simulateCall } from '../support/calls.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { waitFor } from '../support/wait.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

/** A loopback port nothing listens on: a host that is down. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PostgreSQL failover, as the application sees it', () => {
  it('connects through a multi-host URL whose first host is down, to the primary', async () => {
    const live = new URL(t.url);
    const url = `postgres://${live.username}@127.0.0.1:${await deadPort()},${live.host}${live.pathname}?target_session_attrs=primary`;
    expect(loadConfig({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
    const handle = await openDatabase({ databaseUrl: url, migrate: false, poolSize: 1 });
    try {
      const { merchant, offer } = await provision(handle.db);
      const purchase = await createPurchase(handle.db, merchant.id, { offerId: offer.id, callerNumber: '+33612340001' });
      expect((await getPurchase(t.db, merchant.id, purchase.id))?.status).toBe('pending');
    } finally {
      await handle.close();
    }
  });

  it('rolls back a credit whose connection is cut mid-transaction, and applies it once when run again', { timeout: 90_000 }, async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899123499'] });
    const caller = '+33612340002';
    const purchase = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    const { facts } = await simulateCall(t.db, { dialed: '+33899123499', caller, answer: false });
    await markAnswered(t.db, facts.channelId);
    // Hold the event table so the credit stops after updating the purchase and the call,
    // before its event row: then cut its connection, as a failover does.
    const blocker = postgres(t.url, { max: 1, onnotice: () => {} });
    const admin = postgres(t.url, { max: 1, onnotice: () => {} });
    try {
      const holder = await blocker.reserve();
      await holder`begin`;
      await holder`lock table purchase_events in exclusive mode`;
      // The credit runs in a child process: see test/support/cut-credit-child.ts.
      const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../support/cut-credit-child.ts'), t.url, facts.channelId], { stdio: ['ignore', 'pipe', 'ignore'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const waiting = "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%purchase_events%'";
      await waitFor('the credit waiting on the event table', async () => (await admin.unsafe(waiting)).length > 0, 60_000);
      await admin.unsafe(`select pg_terminate_backend(pid) from (${waiting}) w`);
      await exited;
      // It failed (or its client crashed on the dead connection): never "applied".
      expect(output.trim()).not.toBe('applied');
      await holder`rollback`;
      holder.release();
      // Nothing of the cut transaction remains.
      expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ callsCounted: 0, status: 'pending' });
      const [call] = await admin<{ outcome: string }[]>`select outcome from calls where channel_id = ${facts.channelId}`;
      expect(call!.outcome).toBe('in_progress');
      // Run again (the IVR's count, or its closing endCall, does): applied once.
      expect(await countCall(t.db, facts.channelId)).toMatchObject({ counted: true });
      expect(await countCall(t.db, facts.channelId)).toMatchObject({ counted: false, reason: 'not_in_progress' });
      expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ callsCounted: 1, status: 'completed' });
      const [events] = await admin<{ n: number }[]>`select count(*)::int as n from purchase_events where purchase_id = ${purchase.id} and type = 'call_counted'`;
      expect(events!.n).toBe(1);
    } finally {
      await blocker.end();
      await admin.end();
    }
  });
});
