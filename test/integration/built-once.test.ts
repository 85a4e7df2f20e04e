// builtOnce (db/ledger/built-once.ts) runs a query built once on whichever transaction it is
// given: this checks that each run really is inside that transaction (its writes seen, its
// rollback honoured, its locks held by it) and takes its own values, on PostgreSQL and PGlite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type DbHandle } from '../../db/client.js';
import { builtOnce } from '../../db/ledger/built-once.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const things = pgTable('built_once_things', { id: integer('id').primaryKey(), label: text('label').notNull() });
const thingById = builtOnce('thing_by_id', (tx, name) =>
  tx
    .select()
    .from(things)
    .where(eq(things.id, sql.placeholder('id')))
    .for('update')
    .prepare(name),
);
const insertThing = builtOnce('insert_thing', (tx, name) => tx.insert(things).values({ id: sql.placeholder('id'), label: sql.placeholder('label') }).prepare(name));

class Rollback extends Error {}

function suite(open: () => Promise<DbHandle & { drop?: () => Promise<void> }>, concurrent: boolean) {
  // PGlite runs one transaction at a time: the tests of two at once are PostgreSQL's only.
  const concurrently = concurrent ? it : () => {};
  let handle: DbHandle & { drop?: () => Promise<void> };
  let db: Database;
  beforeAll(async () => {
    handle = await open();
    db = handle.db;
    await db.execute(sql`create table built_once_things (id integer primary key, label text not null)`);
  });
  afterAll(async () => {
    await (handle?.drop ? handle.drop() : handle?.close());
  });

  it("sees the transaction's own writes, with each run's values", async () => {
    await db.transaction(async (tx) => {
      await insertThing(tx, { id: 1, label: 'one' });
      await insertThing(tx, { id: 2, label: 'two' });
      expect(await thingById(tx, { id: 1 })).toEqual([{ id: 1, label: 'one' }]);
      expect(await thingById(tx, { id: 2 })).toEqual([{ id: 2, label: 'two' }]);
    });
  });

  it('writes nothing when its transaction rolls back', async () => {
    await expect(
      db.transaction(async (tx) => {
        await insertThing(tx, { id: 3, label: 'three' });
        expect(await thingById(tx, { id: 3 })).toHaveLength(1);
        throw new Rollback();
      }),
    ).rejects.toBeInstanceOf(Rollback);
    await db.transaction(async (tx) => {
      expect(await thingById(tx, { id: 3 })).toEqual([]);
    });
  });

  concurrently('runs on the connection of the transaction given, with two transactions open at once', async () => {
    // Each transaction's uncommitted row is visible to itself only: a query sent on any other
    // connection (the one it was first built on, say) would see neither, or the other's.
    let bothOpen!: () => void;
    const opened = new Promise<void>((resolve) => (bothOpen = resolve));
    let waiting = 2;
    const run = (own: number, other: number) =>
      db.transaction(async (tx) => {
        await insertThing(tx, { id: own, label: `row ${own}` });
        if (--waiting === 0) bothOpen();
        await opened;
        expect(await thingById(tx, { id: own })).toEqual([{ id: own, label: `row ${own}` }]);
        expect(await thingById(tx, { id: other })).toEqual([]);
        throw new Rollback();
      });
    const results = await Promise.allSettled([run(10, 11), run(11, 10)]);
    for (const r of results) expect(r.status === 'rejected' && r.reason).toBeInstanceOf(Rollback);
  });

  concurrently('holds its row lock in its transaction until the commit', async () => {
    await db.transaction(async (tx) => {
      expect(await thingById(tx, { id: 1 })).toHaveLength(1);
      // Another connection cannot take the lock the built query took in `tx`.
      await expect(db.execute(sql`select id from built_once_things where id = 1 for update nowait`)).rejects.toMatchObject({ cause: { code: '55P03' } });
    });
    await expect(db.execute(sql`select id from built_once_things where id = 1 for update nowait`)).resolves.toBeDefined();
  });
}

describe('builtOnce on PostgreSQL', () => {
  suite(async (): Promise<TestDatabase> => createTestDatabase(), true);
});

describe('builtOnce on PGlite', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-built-once-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  suite(() => openDatabase({ dataDir: dir, migrate: false }), false);
});
