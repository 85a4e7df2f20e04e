// What the operator reads across merchants (the CLI): merchants, offers, one purchase in full.
import { asc, eq, sql } from 'drizzle-orm';
import type { PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { merchants, offerNumbers, offers, purchaseEvents, purchases, type Offer, type PurchaseEventType } from '../schema.js';
import { purchaseWithClock, toPurchaseView } from './shared.js';

export interface MerchantSummary {
  id: string;
  name: string;
  offers: number;
  webhookUrl: string | null;
  createdAt: Date;
}

/** Merchants, oldest first; only the one with `merchantId` when it is given. */
export async function merchantSummaries(db: Database, merchantId?: string): Promise<MerchantSummary[]> {
  return db
    .select({
      id: merchants.id,
      name: merchants.name,
      // Spelled out: drizzle leaves columns unqualified in a one-table select.
      offers: sql<number>`(select count(*)::int from ${offers} o where o.merchant_id = "merchants"."id")`,
      webhookUrl: merchants.webhookUrl,
      createdAt: merchants.createdAt,
    })
    .from(merchants)
    .where(merchantId ? eq(merchants.id, merchantId) : undefined)
    .orderBy(asc(merchants.createdAt), asc(merchants.id));
}

export interface OfferSummary extends Offer {
  merchantName: string;
  numbers: string[];
}

/** Offers with their numbers, oldest first; one merchant's when `merchantId` is given. */
export async function listOffers(db: Database, merchantId?: string): Promise<OfferSummary[]> {
  const rows = await db
    .select({
      offer: offers,
      merchantName: merchants.name,
      numbers: sql<string[]>`coalesce((select array_agg(n.number order by n.number) from ${offerNumbers} n where n.offer_id = ${offers.id}), '{}')`,
    })
    .from(offers)
    .innerJoin(merchants, eq(merchants.id, offers.merchantId))
    .where(merchantId ? eq(offers.merchantId, merchantId) : undefined)
    .orderBy(asc(offers.createdAt), asc(offers.id));
  return rows.map((r) => ({ ...r.offer, merchantName: r.merchantName, numbers: r.numbers }));
}

export interface PurchaseDetails {
  purchase: PurchaseView;
  merchantId: string;
  merchantName: string;
  offerName: string;
  events: { id: number; type: PurchaseEventType; callsCounted: number; callId: string | null; createdAt: Date }[];
}

/** Any merchant's purchase, with its event trail (its calls: listCalls; credits: creditsOfPurchase). */
export async function purchaseDetails(db: Database, purchaseId: string): Promise<PurchaseDetails | null> {
  const [row] = await db
    .select({ purchase: purchaseWithClock, merchantName: merchants.name, offerName: offers.name })
    .from(purchases)
    .innerJoin(merchants, eq(merchants.id, purchases.merchantId))
    .innerJoin(offers, eq(offers.id, purchases.offerId))
    .where(eq(purchases.id, purchaseId));
  if (!row) return null;
  const events = await db
    .select({ id: purchaseEvents.id, type: purchaseEvents.type, callsCounted: purchaseEvents.callsCounted, callId: purchaseEvents.callId, createdAt: purchaseEvents.createdAt })
    .from(purchaseEvents)
    .where(eq(purchaseEvents.purchaseId, purchaseId))
    .orderBy(asc(purchaseEvents.id));
  return { purchase: toPurchaseView(row.purchase), merchantId: row.purchase.merchantId, merchantName: row.merchantName, offerName: row.offerName, events };
}
