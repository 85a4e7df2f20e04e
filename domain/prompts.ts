// Prompt sequences as ARI media URIs. Sentences Asterisk's core sounds lack are shipped in
// asterisk-conf/sounds/<lang>/sanscode/ (same names in every language; the playback's `lang`
// picks the folder). Numbers are spoken by Asterisk itself with the number: scheme. The
// identity prompt (whom the caller pays: identity-purchase-generic, identity-purchase-made-on,
// identity-purchase-for, identity-hang-up-if-not-yours) is built in identity.ts.
import type { RefusalOutcome } from './vocabulary.js';

export type Media = string[];

const sound = (name: string) => `sound:sanscode/${name}`;

/** "N calls still needed to complete your purchase." */
function callsStillNeeded(n: number): Media {
  if (n === 1) return [sound('calls-remaining-one')];
  return [sound('calls-remaining-prefix'), `number:${n}`, sound('calls-remaining-suffix')];
}

/** Played right after answering: how many calls are missing, and to stay on the line. */
export function greeting(callsRemainingBefore: number): Media {
  return [...callsStillNeeded(callsRemainingBefore), sound('please-hold')];
}

/** Played once the call has been counted. */
export function afterCount(callsRemainingAfter: number): Media {
  if (callsRemainingAfter === 0) return [sound('purchase-confirmed')];
  return [...callsStillNeeded(callsRemainingAfter), sound('call-counted')];
}

/** The number's price announcement, a sound name set by the operator (see number_settings). */
export function priceAnnouncement(soundName: string): Media {
  return [`sound:${soundName}`];
}

/** The sentence explaining each refusal. */
const refusalSounds: Record<RefusalOutcome, string> = {
  anonymous: 'caller-id-withheld',
  no_purchase: 'no-pending-purchase',
  unknown_number: 'unknown-number',
  expired: 'purchase-expired',
  call_in_progress: 'call-in-progress',
  number_not_lent: 'number-not-lent',
  failed: 'service-unavailable',
};

/** Early-media explanation for a call we refuse (and so never answer). */
export function refusal(outcome: RefusalOutcome): Media {
  return [sound(refusalSounds[outcome])];
}
