// Migrations that move data: an existing database must come out right, not only a fresh one.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from '../../db/client.js';
import { serverUrl } from '../support/db.js';

const name = `sanscode_test_${randomBytes(6).toString('hex')}`;
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
let sql: postgres.Sql;
let before: string;

/** A copy of the migrations folder that stops just before `tag`. */
function migrationsBefore(tag: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-migrations-'));
  cpSync(migrationsFolder, dir, { recursive: true });
  const journalPath = path.join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  expect(at).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, at);
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

beforeAll(async () => {
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  before = migrationsBefore('0003_offer_hold_seconds');
});

afterAll(async () => {
  await sql?.end();
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
  if (before) rmSync(before, { recursive: true, force: true });
});

describe('0003_offer_hold_seconds', () => {
  it('moves the hold of existing dynamic offers out of purchase_ttl_seconds, and then keeps each mode to its column', async () => {
    await migrate(drizzle(sql), { migrationsFolder: before });
    const [merchant] = await sql`insert into merchants (name, api_key_hash) values ('m', 'h') returning id`;
    const [callerId] = await sql`
      insert into offers (merchant_id, name, mode, calls_required, min_call_seconds, purchase_ttl_seconds, language)
      values (${merchant!.id}, 'caller', 'caller_id', 1, 0, 900, 'fr') returning id`;
    const [dynamic] = await sql`
      insert into offers (merchant_id, name, mode, calls_required, min_call_seconds, purchase_ttl_seconds, max_hold_seconds, quarantine_seconds, language)
      values (${merchant!.id}, 'pool', 'dynamic_number', 1, 0, 300, 600, 60, 'fr') returning id`;

    await migrate(drizzle(sql), { migrationsFolder });

    const rows = await sql`select id, purchase_ttl_seconds, hold_seconds, max_hold_seconds from offers order by name`;
    expect(rows.map((r) => ({ ...r }))).toEqual([
      { id: callerId!.id, purchase_ttl_seconds: 900, hold_seconds: null, max_hold_seconds: null },
      { id: dynamic!.id, purchase_ttl_seconds: null, hold_seconds: 300, max_hold_seconds: 600 },
    ]);
    const insert = (mode: string, ttl: number | null, hold: number | null, maxHold: number | null) => sql`
      insert into offers (merchant_id, name, mode, calls_required, min_call_seconds, purchase_ttl_seconds, hold_seconds, max_hold_seconds, quarantine_seconds, language)
      values (${merchant!.id}, 'x', ${mode}, 1, 0, ${ttl}, ${hold}, ${maxHold}, ${maxHold === null ? null : 60}, 'fr')`;
    await expect(insert('dynamic_number', 300, null, 600)).rejects.toMatchObject({ constraint_name: 'offers_lifetime_by_mode' });
    await expect(insert('caller_id', 900, 300, null)).rejects.toMatchObject({ constraint_name: 'offers_lifetime_by_mode' });
    await expect(insert('dynamic_number', null, 600, 300)).rejects.toMatchObject({ constraint_name: 'offers_max_hold' });
    await expect(insert('dynamic_number', null, 5, 300)).rejects.toMatchObject({ constraint_name: 'offers_hold' });
  });
});
