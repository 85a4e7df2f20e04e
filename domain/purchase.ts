// A purchase's state as everyone must read it: its status once its time is over, the calls it
// still needs, and how long a new one lives. No clock here: the caller says whether the
// purchase's time is over (by the database's clock, so all processes agree).
import type { OfferMode, PurchaseStatus } from './vocabulary.js';

/** A purchase as merchants, pages and webhooks see it (the API's Purchase object). */
export interface PurchaseView {
  id: string;
  offerId: string;
  mode: OfferMode;
  status: PurchaseStatus;
  reference: string | null;
  callerNumber: string | null;
  numberToCall: string;
  callsRequired: number;
  callsCounted: number;
  callsRemaining: number;
  createdAt: string;
  expiresAt: string;
  completedAt: string | null;
  /** Present only on a per-second purchase (offer unit 'second'). */
  unit?: 'second';
  secondsRequired?: number;
  secondsCounted?: number;
  secondsRemaining?: number;
  /**
   * When the owner of callerNumber hung up during the identity prompt ("I did not make this
   * purchase"); null otherwise. The purchase stays pending: the merchant decides (README).
   */
  disputedAt: string | null;
}

export interface CallTally {
  callsRequired: number;
  callsCounted: number;
}

/** Calls still needed to complete the purchase. */
export function callsRemaining(p: CallTally): number {
  return p.callsRequired - p.callsCounted;
}

/**
 * A pending purchase whose time is over (`lapsed`) is expired, whether or not a writer has
 * said so yet: no sweeper is needed for correctness.
 */
export function effectiveStatus(p: { status: PurchaseStatus; lapsed: boolean }): PurchaseStatus {
  return p.status === 'pending' && p.lapsed ? 'expired' : p.status;
}

/** The offer fields that say how long its purchases live; each mode uses its own. */
export interface OfferLifetimes {
  mode: OfferMode;
  /** caller_id: how long a purchase stays pending. */
  purchaseTtlSeconds: number | null;
  /** dynamic_number: how long a number is lent to one visitor. */
  holdSeconds: number | null;
  /** access_code: how long the calls of one formula may be spread. */
  formulaWindowSeconds?: number | null;
}

/**
 * How long a new purchase stays pending. A purchase on a lent number lives exactly as long as
 * its hold (extending the hold extends the purchase).
 */
export function purchaseLifetimeSeconds(offer: OfferLifetimes): number {
  let seconds: number | null;
  switch (offer.mode) {
    case 'caller_id':
      seconds = offer.purchaseTtlSeconds;
      break;
    case 'dynamic_number':
      seconds = offer.holdSeconds;
      break;
    case 'access_code':
      seconds = offer.formulaWindowSeconds ?? null;
      break;
  }
  // The schema's offers_lifetime_by_mode check makes this unreachable for a stored offer.
  if (seconds === null) throw new Error(`A ${offer.mode} offer without its lifetime.`);
  return seconds;
}

/** A pending caller_id purchase of one caller at one merchant: the number it holds. */
export interface HeldNumber {
  purchaseId: string;
  offerId: string;
  number: string;
}

/**
 * The number a new caller_id purchase gives its buyer: the offer's first number on which this
 * caller holds no pending purchase at this merchant (`held`: their live ones, lapsed ones
 * left out). None free: the caller must end one first, and when one of them is for this very
 * offer (`ownPending`), the merchant can resume it instead of creating another.
 */
export function numberForCaller(
  offerId: string,
  offerNumbers: readonly string[],
  held: readonly HeldNumber[],
): { number: string } | { number: null; ownPending: string | null } {
  const free = offerNumbers.find((n) => !held.some((h) => h.number === n));
  if (free) return { number: free };
  return { number: null, ownPending: held.find((h) => h.offerId === offerId)?.purchaseId ?? null };
}
