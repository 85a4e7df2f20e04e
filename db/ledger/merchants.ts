// Merchants: their API keys (hashed at rest) and the browser origins their pages are served
// from. Webhook settings are in webhooks.ts, next to the outbox they feed.
import { createHash, randomBytes } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Database } from '../client.js';
import { merchants } from '../schema.js';

/** API keys are 256-bit random tokens, so a plain SHA-256 is a sufficient hash at rest. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

export async function createMerchant(db: Database, name: string): Promise<{ id: string; name: string; apiKey: string }> {
  const apiKey = `sk_${randomBytes(32).toString('base64url')}`;
  const [row] = await db.insert(merchants).values({ name, apiKeyHash: hashApiKey(apiKey) }).returning();
  return { id: row!.id, name: row!.name, apiKey };
}

/** Who a key belongs to: all that authentication needs (and may cache). */
export interface MerchantIdentity {
  id: string;
  name: string;
}

export async function findMerchantByApiKeyHash(db: Database, apiKeyHash: string): Promise<MerchantIdentity | null> {
  const [row] = await db.select({ id: merchants.id, name: merchants.name }).from(merchants).where(eq(merchants.apiKeyHash, apiKeyHash));
  return row ?? null;
}

/** A merchant as the operator and the merchant see it: never the key hash nor the webhook secret. */
export interface MerchantView {
  id: string;
  name: string;
  allowedOrigins: string[];
  webhookUrl: string | null;
  createdAt: Date;
}

const merchantView = {
  id: merchants.id,
  name: merchants.name,
  allowedOrigins: merchants.allowedOrigins,
  webhookUrl: merchants.webhookUrl,
  createdAt: merchants.createdAt,
};

export async function getMerchant(db: Database, merchantId: string): Promise<MerchantView | null> {
  const [row] = await db.select(merchantView).from(merchants).where(eq(merchants.id, merchantId));
  return row ?? null;
}

/** Newest first. */
export async function listMerchants(db: Database, opts: { limit: number }): Promise<MerchantView[]> {
  return db.select(merchantView).from(merchants).orderBy(desc(merchants.createdAt), desc(merchants.id)).limit(opts.limit);
}

/** The origins (scheme://host[:port]) whose pages may use the merchant's client tokens; none for an unknown merchant. */
export async function allowedOrigins(db: Database, merchantId: string): Promise<string[]> {
  const [row] = await db.select({ origins: merchants.allowedOrigins }).from(merchants).where(eq(merchants.id, merchantId));
  return row?.origins ?? [];
}

/** Replaces the merchant's allowed origins (each kept once, in the order given); returns them as stored. */
export async function setAllowedOrigins(db: Database, merchantId: string, origins: readonly string[]): Promise<string[]> {
  const [row] = await db
    .update(merchants)
    .set({ allowedOrigins: [...new Set(origins)] })
    .where(eq(merchants.id, merchantId))
    .returning({ origins: merchants.allowedOrigins });
  return row?.origins ?? [];
}
