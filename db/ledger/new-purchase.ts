// A purchase being created: what a merchant asks for, and the row its creation writes. Shared
// by the creation alone (purchases.ts) and the creations written together (creation-batch.ts).
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { numberForCaller, purchaseLifetimeSeconds, type HeldNumber, type PurchaseLimits } from '../../domain/index.js';
import { offerNumbers, offers, type Offer } from '../schema.js';
import { LedgerError, type PurchaseWithClock } from './shared.js';

export interface NewPurchase {
  offerId: string;
  /** E.164 buyer number; required in caller_id mode, ignored in dynamic_number mode. */
  callerNumber?: string | null | undefined;
  reference?: string | null | undefined;
  /** The buyer's IP address as the merchant saw it (optional): bounds creations per address. Stored as a keyed hash. */
  clientIp?: string | null | undefined;
}

/** SQL column of a query on `offers`: the offer's numbers, in order, as a JSON array. */
export const offerNumbersJson = sql<string[]>`(select coalesce(json_agg(n.number order by n.number), '[]'::json) from ${offerNumbers} n where n.offer_id = ${offers.id})`;

/** One creation as the ledger runs it: the merchant's request, its buyer address hashed, its limits. */
export interface CreationRequest {
  merchantId: string;
  input: NewPurchase;
  ipHash: string | null;
  /** Creation limits per phone number and per buyer address (domain/identity.ts); none when absent. */
  limits: PurchaseLimits | undefined;
}

/**
 * A new purchase as its creation writes it, with the clock of the creating transaction:
 * `now` is that transaction's now() (the same in every statement), so nothing is read back.
 */
export function newPurchaseRow(p: {
  merchantId: string;
  offer: Offer;
  reference: string | null;
  callerNumber: string | null;
  ipHash: string | null;
  numberToCall: string;
  now: Date;
}): PurchaseWithClock {
  const { offer, now } = p;
  // now() + make_interval(secs => an integer) read back would be exactly this (a Date keeps
  // milliseconds, the database microseconds: both truncate the same digits).
  const expiresAt = new Date(now.getTime() + purchaseLifetimeSeconds(offer) * 1000);
  return {
    id: randomUUID(),
    merchantId: p.merchantId,
    offerId: offer.id,
    mode: offer.mode,
    status: 'pending',
    reference: p.reference,
    callerNumber: p.callerNumber,
    numberToCall: p.numberToCall,
    callsRequired: offer.callsRequired,
    callsCounted: 0,
    minCallSeconds: offer.minCallSeconds,
    unit: offer.unit,
    secondsRequired: offer.secondsRequired,
    secondsCounted: 0,
    language: offer.language,
    createdAt: now,
    expiresAt,
    completedAt: null,
    endedAt: null,
    disputedAt: null,
    clientIpHash: p.ipHash,
    anonymisedAt: null,
    lapsed: expiresAt <= now,
    dbNowSeconds: now.getTime() / 1000,
  };
}

/**
 * The number a caller_id creation gives (domain numberForCaller), or the 409 that points the
 * merchant to its own pending purchase so it can resume it (all `held` are its own).
 */
export function numberOrRefusal(offerId: string, numbers: readonly string[], held: readonly HeldNumber[]): string {
  const choice = numberForCaller(offerId, numbers, held);
  if (choice.number !== null) return choice.number;
  throw new LedgerError(
    'caller_has_pending_purchase',
    choice.ownPending
      ? 'This caller already has a pending purchase for this offer: resume it, or cancel it first.'
      : 'This caller already has a pending purchase on the number(s) of this offer; retry once it ends.',
    choice.ownPending ? { pendingPurchaseId: choice.ownPending } : {},
  );
}
