// Operator provisioning: merchants (API keys hashed at rest) and offers with their numbers.
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Language, OfferMode } from '../../domain/index.js';
import type { Database } from '../client.js';
import { merchants, numberSettings, offerNumbers, offers, type Offer } from '../schema.js';
import { LedgerError } from './shared.js';

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

export interface NewOffer {
  merchantId: string;
  name: string;
  mode: OfferMode;
  callsRequired: number;
  minCallSeconds: number;
  /** E.164 premium numbers, already normalised and de-duplicated. */
  numbers: string[];
  /** caller_id only: how long a purchase stays pending. */
  purchaseTtlSeconds?: number | null;
  /** dynamic_number only: how long a number is lent to one visitor. */
  holdSeconds?: number | null;
  /** dynamic_number only. */
  maxHoldSeconds?: number | null;
  quarantineSeconds?: number | null;
  language: Language;
  priceLine?: string | null;
}

export interface OfferView extends Offer {
  numbers: string[];
}

/**
 * Creates an offer. Caller-ID numbers may be shared by several offers (the caller's pending
 * purchase tells them apart), but a dynamic pool number belongs to its pool alone: a call on
 * it must mean exactly one thing.
 */
export async function createOffer(db: Database, input: NewOffer): Promise<OfferView> {
  return db.transaction(async (tx) => {
    const [merchant] = await tx.select({ id: merchants.id }).from(merchants).where(eq(merchants.id, input.merchantId));
    if (!merchant) throw new LedgerError('merchant_not_found', `No merchant with id ${input.merchantId}.`);
    // Serialise offer creation per number so two processes cannot both claim one.
    for (const n of [...input.numbers].sort()) await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${'number:' + n}))`);
    const clashes = await tx
      .selectDistinct({ number: offerNumbers.number })
      .from(offerNumbers)
      .innerJoin(offers, eq(offers.id, offerNumbers.offerId))
      .where(
        and(
          inArray(offerNumbers.number, input.numbers),
          input.mode === 'dynamic_number' ? sql`true` : eq(offers.mode, 'dynamic_number'),
        ),
      );
    if (clashes.length > 0) {
      const list = clashes.map((c) => c.number).sort();
      throw new LedgerError('number_in_use', `Already in a dynamic-number pool or another offer: ${list.join(', ')}.`, { numbers: list });
    }
    const { numbers, ...fields } = input;
    const [offer] = await tx
      .insert(offers)
      .values({
        ...fields,
        purchaseTtlSeconds: fields.purchaseTtlSeconds ?? null,
        holdSeconds: fields.holdSeconds ?? null,
        maxHoldSeconds: fields.maxHoldSeconds ?? null,
        quarantineSeconds: fields.quarantineSeconds ?? null,
        priceLine: fields.priceLine ?? null,
      })
      .returning();
    await tx.insert(offerNumbers).values(numbers.map((number) => ({ offerId: offer!.id, number })));
    return { ...offer!, numbers };
  });
}

export async function getOffer(db: Database, offerId: string): Promise<OfferView | null> {
  const [offer] = await db.select().from(offers).where(eq(offers.id, offerId));
  if (!offer) return null;
  const rows = await db
    .select({ number: offerNumbers.number })
    .from(offerNumbers)
    .where(eq(offerNumbers.offerId, offerId))
    .orderBy(asc(offerNumbers.number));
  return { ...offer, numbers: rows.map((r) => r.number) };
}

export interface NumberSettings {
  number: string;
  priceAnnouncement: string | null;
}

/** Sets how a premium number is announced to callers (see numberSettings in the schema). */
export async function setNumberSettings(db: Database, settings: NumberSettings): Promise<NumberSettings> {
  const [row] = await db
    .insert(numberSettings)
    .values(settings)
    .onConflictDoUpdate({ target: numberSettings.number, set: { priceAnnouncement: settings.priceAnnouncement, updatedAt: sql`now()` } })
    .returning({ number: numberSettings.number, priceAnnouncement: numberSettings.priceAnnouncement });
  return row!;
}
