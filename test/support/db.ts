// Each test file gets its own freshly migrated database on the PostgreSQL server named by
// DATABASE_URL, so files run in parallel without seeing each other's rows.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type DbHandle } from '../../db/client.js';

export const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase extends DbHandle {
  url: string;
  drop(): Promise<void>;
}

/** `prefix` names the database (benches use their own, so a leftover says where it came from). */
export async function createTestDatabase(prefix = 'sanscode_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ databaseUrl: url.toString() });
  return {
    ...handle,
    url: url.toString(),
    async drop() {
      await handle.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
