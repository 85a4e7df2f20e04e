// Secrets every API process must share (not money state, so outside the ledger): created once
// by whichever process asks first, then read by all.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from './client.js';
import { secrets } from './schema.js';

export async function sharedSecret(db: Database, name: string): Promise<Buffer> {
  await db.insert(secrets).values({ name, value: randomBytes(32).toString('base64url') }).onConflictDoNothing();
  const [row] = await db.select({ value: secrets.value }).from(secrets).where(eq(secrets.name, name));
  return Buffer.from(row!.value, 'base64url');
}
