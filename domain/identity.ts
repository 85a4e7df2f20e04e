// Caller-ID identity (issue 13): a caller learns whom they pay before the call is billed, and
// nobody can squat another person's number. Pure rules: the identity prompt, the creation
// limits and what a 429 says, and the retention of a caller's personal data. The ledger
// (db/ledger/identity.ts) reads the state and applies them.
//
// Which purchase a call pays, when one caller holds pending purchases at several merchants on
// one shared number: the MOST RECENT pending one, and the caller hears which one (its
// merchant's and offer's recorded names, or a generic sentence) before the answer. Chosen over
// a DTMF menu because it is exact under the purchase lock, needs no carrier that passes DTMF
// before the answer, and never credits a purchase the caller was not told about: the prompt
// played is the one of the purchase the call was admitted for, and only that one is credited.
import type { Media } from './prompts.js';

const sound = (name: string) => `sound:sanscode/${name}`;

/** The recorded names of the purchase a call would pay (sound names, as priceAnnouncement). */
export interface PurchaseIdentity {
  /** The merchant's recorded name (e.g. "sanscode/names/le-journal"); null: none recorded. */
  merchantNameSound: string | null;
  /** The offer's recorded name (what the purchase is for); null: none recorded. */
  offerNameSound: string | null;
}

/**
 * Played free, as early media, after the price announcement and before the answer:
 * "This call pays for a purchase made on <merchant> [for <offer>]. If you did not make this
 * purchase, hang up now: you will not be charged." Without a merchant name, the generic
 * "This call pays for a purchase made on a website with your number."
 */
export function identityPrompt(identity: PurchaseIdentity): Media {
  const media: Media = identity.merchantNameSound
    ? [sound('identity-purchase-made-on'), `sound:${identity.merchantNameSound}`]
    : [sound('identity-purchase-generic')];
  if (identity.offerNameSound) media.push(sound('identity-purchase-for'), `sound:${identity.offerNameSound}`);
  media.push(sound('identity-hang-up-if-not-yours'));
  return media;
}

/** How many purchases may be created per phone number and per buyer address, per window. */
export interface PurchaseLimits {
  /** caller_id purchases created for one phone number, across all merchants, per window. */
  perNumber: number;
  /** Purchases created from one buyer address (`clientIp`), across numbers, per window. */
  perClientIp: number;
  /** The sliding window, in seconds (an hour). */
  windowSeconds: number;
}

export const defaultPurchaseLimits: PurchaseLimits = { perNumber: 5, perClientIp: 20, windowSeconds: 3600 };

/**
 * Whether one more creation fits in the window, given the creations already in it (their ages
 * in seconds, by the database's clock). Refused: the seconds until the oldest one that must
 * leave the window does, i.e. the Retry-After (at least 1).
 */
export function creationAllowed(agesSeconds: readonly number[], limit: number, windowSeconds: number): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
  const inWindow = agesSeconds.filter((a) => a < windowSeconds).sort((x, y) => y - x);
  if (inWindow.length < limit) return { allowed: true };
  // One more is allowed once inWindow.length - limit + 1 of them have left: the k-th oldest.
  const mustLeave = inWindow[inWindow.length - limit]!;
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(windowSeconds - mustLeave)) };
}

/** How long a caller's personal data (number, buyer address) is kept; see db/ledger/identity.ts. */
export const defaultRetentionDays = 400;
