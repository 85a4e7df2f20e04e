// What is made once per database and then read by every process: records (table app_state),
// e.g. the demo site's merchant and offers, which must survive restarts because a pool number
// cannot belong to two offers; and secrets all API processes must share (table secrets), e.g.
// the key that signs client tokens. Neither is money state.
import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { appState, secrets } from '../schema.js';

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

/**
 * The 256-bit secret stored under `name`, created by whichever process asks first; a second
 * creator's insert does nothing, and every process then reads the one stored.
 */
export async function sharedSecret(db: Database, name: string): Promise<Buffer> {
  await db.insert(secrets).values({ name, value: randomBytes(32).toString('base64url') }).onConflictDoNothing();
  const [row] = await db.select({ value: secrets.value }).from(secrets).where(eq(secrets.name, name));
  return Buffer.from(row!.value, 'base64url');
}
