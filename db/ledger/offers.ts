// Operator provisioning: offers with their premium numbers, and how each number is announced.
// Merchants are in merchants.ts.
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Language, OfferMode, PurchaseUnit } from '../../domain/index.js';
import type { Database } from '../client.js';
import { merchants, numberSettings, offerNumbers, offers, type Offer } from '../schema.js';
import { LedgerError } from './shared.js';

export interface NewOffer {
  merchantId: string;
  name: string;
  mode: OfferMode;
  callsRequired: number;
  minCallSeconds: number;
  /** What a purchase counts (default 'call'); 'second' takes secondsRequired. */
  unit?: PurchaseUnit;
  secondsRequired?: number | null;
  /** E.164 premium numbers, already normalised and de-duplicated. */
  numbers: string[];
  /** caller_id only: how long a purchase stays pending. */
  purchaseTtlSeconds?: number | null;
  /** dynamic_number only: how long a number is lent to one visitor. */
  holdSeconds?: number | null;
  /** dynamic_number only. */
  maxHoldSeconds?: number | null;
  quarantineSeconds?: number | null;
  /** access_code only: how long an issued code can be redeemed. */
  codeTtlSeconds?: number | null;
  /** access_code only: how long the calls of one formula may be spread. */
  formulaWindowSeconds?: number | null;
  language: Language;
  priceLine?: string | null;
}

export interface OfferView extends Offer {
  numbers: string[];
}

/**
 * Creates an offer. Caller-ID numbers may be shared by several offers (the caller's pending
 * purchase tells them apart), but a dynamic pool number belongs to its pool alone, and an
 * access-code number to its one offer: a call on it must mean exactly one thing.
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
          input.mode === 'caller_id' ? inArray(offers.mode, ['dynamic_number', 'access_code']) : sql`true`,
        ),
      );
    if (clashes.length > 0) {
      const list = clashes.map((c) => c.number).sort();
      throw new LedgerError('number_in_use', `Already in a dynamic-number pool, an access-code offer, or another offer: ${list.join(', ')}.`, { numbers: list });
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
        codeTtlSeconds: fields.codeTtlSeconds ?? null,
        formulaWindowSeconds: fields.formulaWindowSeconds ?? null,
        priceLine: fields.priceLine ?? null,
        unit: fields.unit ?? 'call',
        secondsRequired: fields.secondsRequired ?? null,
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
  holdSound: string | null;
}

/**
 * Sets how a premium number sounds to callers (see numberSettings in the schema). A setting
 * left out keeps its value (null when the number had none).
 */
export async function setNumberSettings(db: Database, settings: Pick<NumberSettings, 'number'> & Partial<Omit<NumberSettings, 'number'>>): Promise<NumberSettings> {
  const changed = {
    ...(settings.priceAnnouncement !== undefined && { priceAnnouncement: settings.priceAnnouncement }),
    ...(settings.holdSound !== undefined && { holdSound: settings.holdSound }),
  };
  const [row] = await db
    .insert(numberSettings)
    .values({ number: settings.number, ...changed })
    .onConflictDoUpdate({ target: numberSettings.number, set: { ...changed, updatedAt: sql`now()` } })
    .returning({ number: numberSettings.number, priceAnnouncement: numberSettings.priceAnnouncement, holdSound: numberSettings.holdSound });
  return row!;
}
