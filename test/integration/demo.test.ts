// The demo merchant site's backend (/demo, ApiOptions.demo) and the widget file: provisioning
// once per database, purchases through the ledger with no API key anywhere, resuming a pending
// purchase, a full pool (503 + Retry-After), and migration 0004 taking the key out of an
// existing database.
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { migrationsFolder, openDatabase } from '../../db/client.js';
import { findMerchantByApiKeyHash, hashApiKey } from '../../db/ledger/index.js';
import { appState, secrets } from '../../db/schema.js';
import { demoState } from '../../demo/routes.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let http: Http;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR', listen: t.listen, demo: true }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

const buy = (body: unknown) => http.request('POST', '/demo/api/purchases', { body });

describe('demo merchant site', () => {
  it('is served only when enabled; the widget always is', async () => {
    const off = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR' }));
    try {
      expect((await off.request('GET', '/demo')).status).toBe(404);
      const widget = await off.request('GET', '/widget.js');
      expect(widget.status).toBe(200);
      expect(widget.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(widget.body).toContain('sanscode:paid');
    } finally {
      await off.close();
    }
    const page = await http.request('GET', '/demo');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('/demo/api/purchases');
  });

  it('provisions the demo merchant once and keeps it across restarts', async () => {
    await buy({ mode: 'caller_id', phone: '0612000001' });
    const first = await demoState(t.db);
    const again = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR', demo: true }));
    try {
      expect((await again.request('POST', '/demo/api/purchases', { body: { mode: 'caller_id', phone: '0612000002' } })).status).toBe(201);
    } finally {
      await again.close();
    }
    expect(await demoState(t.db)).toEqual(first);
  });

  it('keeps no API key: the database holds only the ids of the demo merchant and offers', async () => {
    expect((await buy({ mode: 'caller_id', phone: '0612000009' })).status).toBe(201);
    expect(Object.keys(await demoState(t.db)).sort()).toEqual(['callerIdOfferId', 'dynamicOfferId', 'merchantId']);
    const stored = JSON.stringify([await t.db.select().from(secrets), await t.db.select().from(appState)]);
    expect(stored).toContain((await demoState(t.db)).merchantId);
    expect(stored).not.toMatch(/sk_/);
  });

  it('buys by caller ID, resumes the pending purchase, never hands out a key', async () => {
    const created = await buy({ mode: 'caller_id', phone: '06 12 00 00 03' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ mode: 'caller_id', numberToCall: '+33899123456', callerNumber: '+33612000003', resumed: false });
    expect(created.body.clientToken).toMatch(/^ct_/);
    const resumed = await buy({ mode: 'caller_id', phone: '0612000003' });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ purchaseId: created.body.purchaseId, resumed: true });
    const client = await http.request('GET', `/v1/client/purchase?token=${resumed.body.clientToken}`);
    expect(client.body).toMatchObject({ purchaseId: created.body.purchaseId, callsRemaining: 2, priceLine: "2 appels à 2,99 € TTC l'appel", language: 'fr' });
    const server = await http.request('GET', `/demo/api/purchases/${created.body.purchaseId}`);
    expect(server.body).toEqual({ purchaseId: created.body.purchaseId, status: 'pending', callsCounted: 0, callsRequired: 2 });
    for (const r of [created, resumed, server]) expect(JSON.stringify(r.body)).not.toMatch(/sk_/);
  });

  it('refuses bad input plainly', async () => {
    expect((await buy({ mode: 'caller_id' })).status).toBe(400);
    expect((await buy({ mode: 'caller_id', phone: '12' })).status).toBe(422);
    expect((await buy({ mode: 'nope' })).status).toBe(400);
    expect((await http.request('GET', '/demo/api/purchases/not-a-uuid')).status).toBe(404);
  });

  it('lends the five pool numbers, then says when to retry', async () => {
    const lent = [];
    for (let i = 0; i < 5; i++) {
      const r = await buy({ mode: 'dynamic_number' });
      expect(r.status).toBe(201);
      lent.push(r.body.numberToCall);
    }
    expect(lent.sort()).toEqual(['+33899200001', '+33899200002', '+33899200003', '+33899200004', '+33899200005']);
    const full = await buy({ mode: 'dynamic_number' });
    expect(full.status).toBe(503);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(full.body.retryAfterSeconds).toBe(Number(full.headers.get('retry-after')));
  });
});

describe('migration 0004 on a database the demo already used', () => {
  const name = `sanscode_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let before = '';
  afterAll(async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
    if (before) rmSync(before, { recursive: true, force: true });
  });

  /** A copy of the migrations folder that stops just before `tag`. */
  function migrationsBefore(tag: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-migrations-'));
    cpSync(migrationsFolder, dir, { recursive: true });
    const journalPath = path.join(dir, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === tag));
    writeFileSync(journalPath, JSON.stringify(journal));
    return dir;
  }

  it('moves the demo ids to app_state without the key, revokes that key, and the demo carries on with them', async () => {
    await admin.unsafe(`create database ${name}`);
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      before = migrationsBefore('0004_app_state');
      await migrate(drizzle(sql), { migrationsFolder: before });
      const oldKey = `sk_${randomBytes(32).toString('base64url')}`;
      const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');
      const [demo] = await sql`insert into merchants (name, api_key_hash) values ('Démo sanscode', ${hashOf(oldKey)}) returning id`;
      const [other] = await sql`insert into merchants (name, api_key_hash) values ('Shop', ${hashOf('sk_other')}) returning id`;
      const ids = { merchantId: demo!.id as string, callerIdOfferId: '6f1c0d0e-0000-4000-8000-000000000001', dynamicOfferId: '6f1c0d0e-0000-4000-8000-000000000002' };
      await sql`insert into secrets (name, value) values ('demo_state', ${JSON.stringify({ ...ids, apiKey: oldKey })}), ('client_token_key', 'kept')`;

      await migrate(drizzle(sql), { migrationsFolder });

      expect(await sql`select name, value from app_state`).toEqual([{ name: 'demo', value: ids }]);
      expect(await sql`select name, value from secrets`).toEqual([{ name: 'client_token_key', value: 'kept' }]);
      const handle = await openDatabase({ databaseUrl: url.toString() });
      try {
        expect(await demoState(handle.db)).toEqual(ids);
        expect(await findMerchantByApiKeyHash(handle.db, hashApiKey(oldKey))).toBeNull();
        expect(await findMerchantByApiKeyHash(handle.db, hashApiKey('sk_other'))).toMatchObject({ id: other!.id });
      } finally {
        await handle.close();
      }
    } finally {
      await sql.end();
    }
  });
});
