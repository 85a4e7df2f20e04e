// A purchase's state as everyone must read it: its status once its time is over, and the calls
// it still needs. No clock here: the caller says whether the purchase's time is over (by the
// database's clock, so all processes agree).
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
