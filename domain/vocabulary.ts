// The words of the business, each list defined once. The database schema builds its enum
// columns from these lists, the API validates against them, the rules switch over them.
// A new formula is a new entry here first; the compiler then points at every switch that
// must learn it.

/** Prompt and widget languages. */
export const languages = ['fr', 'en'] as const;
export type Language = (typeof languages)[number];

/**
 * How an offer recognises who paid: the caller's number, a number lent to one visitor, or
 * (access_code, classic ticketing) nobody: the caller is given a code the merchant redeems.
 */
export const offerModes = ['caller_id', 'dynamic_number', 'access_code'] as const;
export type OfferMode = (typeof offerModes)[number];

/**
 * What a purchase counts: answered calls (each lasting the offer's minimum), or answered
 * seconds (billed time from the answer, accumulated over any number of calls).
 */
export const purchaseUnits = ['call', 'second'] as const;
export type PurchaseUnit = (typeof purchaseUnits)[number];

/** Stored status of a purchase; see effectiveStatus for what a reader must show. */
export const purchaseStatuses = ['pending', 'completed', 'expired', 'cancelled'] as const;
export type PurchaseStatus = (typeof purchaseStatuses)[number];

/** Why a call was refused. A refused call is never answered, so never billed. */
export const refusalOutcomes = [
  'anonymous', // withheld or missing caller ID
  'no_purchase', // no pending purchase for this caller on this number
  'unknown_number', // dialed number belongs to no offer
  'expired', // the caller's purchase has expired
  'call_in_progress', // other calls already in progress will complete the purchase
  'number_not_lent', // pool number not lent right now (free or resting)
  'failed', // the IVR could not decide (database down...)
] as const;
export type RefusalOutcome = (typeof refusalOutcomes)[number];

/** What became of a call that was accepted. */
export const acceptedOutcomes = [
  'in_progress', // answered (or about to be) and not yet over
  'counted', // lasted the minimum and was credited
  'too_short', // answered, hung up before the minimum
  'abandoned', // accepted, but the caller hung up before we could answer
  'lost', // the IVR lost the channel (crash, Asterisk restart) before counting
  'disputed', // accepted, but the caller hung up during the identity prompt ("not my purchase"): never answered
] as const;
export type AcceptedOutcome = (typeof acceptedOutcomes)[number];

/** Every outcome a call record can hold. */
export const callOutcomes = [...acceptedOutcomes, ...refusalOutcomes] as const;
export type CallOutcome = (typeof callOutcomes)[number];

export function isRefusal(outcome: CallOutcome): outcome is RefusalOutcome {
  return (refusalOutcomes as readonly CallOutcome[]).includes(outcome);
}
