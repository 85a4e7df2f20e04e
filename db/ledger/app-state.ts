// Records made once per database and read by every process (table app_state): neither money
// state nor secrets. E.g. the demo site's merchant and offers, which must survive restarts
// because a pool number cannot belong to two offers.
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { appState } from '../schema.js';

/**
 * The record stored under `name`, made by `create` on first use. Several processes may ask at
 * once: an advisory lock lets one create it, in the same transaction as whatever `create`
 * writes through the database it is given, and the others then read it.
 */
export async function provisionOnce<T>(db: Database, name: string, create: (tx: Database) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${'sanscode:app_state:' + name}))`);
    const [row] = await tx.select({ value: appState.value }).from(appState).where(eq(appState.name, name));
    if (row) return row.value as T;
    const value = await create(tx);
    await tx.insert(appState).values({ name, value });
    return value;
  });
}
