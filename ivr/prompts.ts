// Prompt sequences as ARI media URIs. Sentences Asterisk's core sounds lack are shipped in
// asterisk-conf/sounds/<lang>/sanscode/ (same names in every language; the playback's `lang`
// picks the folder). Numbers are spoken by Asterisk itself with the number: scheme.
import type { Admission } from '../db/ledger/index.js';

export type Media = string[];
type RejectOutcome = Extract<Admission, { action: 'reject' }>['outcome'];

const sound = (name: string) => `sound:sanscode/${name}`;

/** "N calls still needed to complete your purchase." */
export function callsRemaining(n: number): Media {
  if (n === 1) return [sound('calls-remaining-one')];
  return [sound('calls-remaining-prefix'), `number:${n}`, sound('calls-remaining-suffix')];
}

/** Played right after answering: how many calls are missing, and to stay on the line. */
export function greeting(callsRemainingBefore: number): Media {
  return [...callsRemaining(callsRemainingBefore), sound('please-hold')];
}

/** Played once the call has been counted. */
export function afterCount(callsRemainingAfter: number): Media {
  if (callsRemainingAfter === 0) return [sound('purchase-confirmed')];
  return [...callsRemaining(callsRemainingAfter), sound('call-counted')];
}

/** The number's price announcement, a sound name set by the operator (see number_settings). */
export function priceAnnouncement(soundName: string): Media {
  return [`sound:${soundName}`];
}

/** Early-media explanation for a call we refuse (and so never answer). */
export function refusal(outcome: RejectOutcome): Media {
  switch (outcome) {
    case 'anonymous':
      return [sound('caller-id-withheld')];
    case 'no_purchase':
      return [sound('no-pending-purchase')];
    case 'unknown_number':
      return [sound('unknown-number')];
    case 'expired':
      return [sound('purchase-expired')];
    case 'call_in_progress':
      return [sound('call-in-progress')];
    case 'number_not_lent':
      return [sound('number-not-lent')];
    case 'failed':
      return [sound('service-unavailable')];
  }
}
