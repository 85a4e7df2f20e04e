// Per-second purchases (offer unit 'second'): the purchase counts answered seconds, billed
// time from the answer, over any number of calls. Pure rules: how many seconds are left, how
// many a credit adds, when the IVR credits, speaks and confirms, and when progress is told.
// The ledger reads the clock (the database's) and the locks; the IVR keeps the timetable.
//
// The two promises to the caller:
// - never billed past the target: the IVR starts the confirmation CONFIRMATION_SECONDS before
//   the purchase's last second, crediting those last seconds at that moment, so the hang-up
//   after the confirmation lands at the target (at most CONFIRMATION_SECONDS are given to a
//   caller who hangs up during the confirmation: the merchant's side of the allowance);
// - a crash loses little: the ledger credits elapsed seconds every CREDIT_EVERY_SECONDS.
import type { Media } from './prompts.js';

/** The ledger credits a call's elapsed seconds this often: a crash loses at most this much. */
export const CREDIT_EVERY_SECONDS = 5;
/** The caller hears the time remaining this often. */
export const ANNOUNCE_EVERY_SECONDS = 30;
/** Progress events (and `purchase.progress` webhooks) at most this often during a call. */
export const PROGRESS_EVERY_SECONDS = 10;
/**
 * The confirmation allowance: the confirmation starts this long before the target, so that
 * the IVR's hang-up after it lands at the target. At least the length of the confirmation
 * prompt in every language (test/unit/domain/per-second.test.ts measures the files).
 */
export const CONFIRMATION_SECONDS = 3;
/**
 * Longest time-remaining announcement for this many seconds: "time remaining", then Asterisk's
 * numbers (up to 1.3 s each, "fifty-nine" 2.1 s) and the unit words. An announcement starts only
 * if it ends before the confirmation, which must never wait behind it.
 */
export function announcementMaxSeconds(secondsLeft: number): number {
  return secondsLeft >= 60 ? 8 : 5;
}
/** Bounds of an offer's secondsRequired. */
export const MIN_SECONDS_REQUIRED = 1;
export const MAX_SECONDS_REQUIRED = 3600;

export interface SecondsTally {
  secondsRequired: number;
  secondsCounted: number;
}

/** Seconds a per-second purchase still needs. */
export function secondsRemaining(p: SecondsTally): number {
  return Math.max(0, p.secondsRequired - p.secondsCounted);
}

/** What the ledger knows, under the call's and the purchase's locks, when it credits a call. */
export interface SecondsCreditFacts {
  /** Time since the answer, by the database's clock (fractional seconds). */
  elapsedSeconds: number;
  /** Seconds this call has already credited. */
  creditedByCall: number;
  /** Seconds the purchase still needs (> 0). */
  secondsRemaining: number;
  /** The IVR is about to play the confirmation: the allowance applies. Never at hang-up. */
  confirming: boolean;
}

export interface SecondsCredit {
  /** Seconds to add to the purchase (and to this call's credit) now. */
  credit: number;
  /** This credit reaches the target: the purchase completes. */
  completes: boolean;
  /** When not completing: seconds until a confirming credit would complete (for the IVR's retry). */
  secondsUntilCompletion: number;
}

/**
 * Whole elapsed seconds not credited yet, never beyond what the purchase needs. When the IVR
 * confirms, the last CONFIRMATION_SECONDS (the confirmation prompt's time) are credited ahead.
 */
export function secondsToCredit(f: SecondsCreditFacts): SecondsCredit {
  const due = Math.max(0, Math.floor(f.elapsedSeconds) - f.creditedByCall);
  const allowance = f.confirming ? CONFIRMATION_SECONDS : 0;
  if (f.secondsRemaining <= 0) return { credit: 0, completes: false, secondsUntilCompletion: 0 };
  if (due + allowance >= f.secondsRemaining) return { credit: f.secondsRemaining, completes: true, secondsUntilCompletion: 0 };
  const untilCompletion = f.secondsRemaining - CONFIRMATION_SECONDS - (f.elapsedSeconds - f.creditedByCall);
  return { credit: due, completes: false, secondsUntilCompletion: Math.max(0, untilCompletion) };
}

/**
 * Whether a credit during a call is told to the purchase's page and merchant (a
 * `seconds_credited` event and its `purchase.progress` webhook): at most every
 * PROGRESS_EVERY_SECONDS. The hang-up is always told (endCall), completion has its own event.
 */
export function progressDue(secondsSinceLastProgress: number | null): boolean {
  return secondsSinceLastProgress === null || secondsSinceLastProgress >= PROGRESS_EVERY_SECONDS;
}

/** One step of a per-second call's timetable, in seconds from the answer (or the resumption). */
export type SecondsStep =
  | { atSeconds: number; kind: 'announce'; secondsRemaining: number }
  | { atSeconds: number; kind: 'credit' }
  | { atSeconds: number; kind: 'confirm' };

/**
 * What the IVR does during a per-second call, given the seconds the purchase needs when the
 * timetable starts: say the time remaining at once and every ANNOUNCE_EVERY_SECONDS (if the
 * announcement ends before the confirmation), credit every CREDIT_EVERY_SECONDS, and confirm
 * CONFIRMATION_SECONDS before the target. Between announcements: silence, or the number's
 * hold sound (holdSound) looped.
 */
export function secondsTimetable(remainingAtStart: number): SecondsStep[] {
  const confirmAt = Math.max(0, remainingAtStart - CONFIRMATION_SECONDS);
  const steps: SecondsStep[] = [];
  for (let at = 0; at + announcementMaxSeconds(remainingAtStart - at) <= confirmAt; at += ANNOUNCE_EVERY_SECONDS) {
    steps.push({ atSeconds: at, kind: 'announce', secondsRemaining: remainingAtStart - at });
  }
  for (let at = CREDIT_EVERY_SECONDS; at < confirmAt; at += CREDIT_EVERY_SECONDS) steps.push({ atSeconds: at, kind: 'credit' });
  steps.push({ atSeconds: confirmAt, kind: 'confirm' });
  // Same instant: credit before speaking (the announcement does not wait on the ledger anyway).
  const order = { credit: 0, announce: 1, confirm: 2 } as const;
  return steps.sort((a, b) => a.atSeconds - b.atSeconds || order[a.kind] - order[b.kind]);
}

const sound = (name: string) => `sound:sanscode/${name}`;

/** "Time remaining: M minutes S seconds." */
export function timeRemaining(seconds: number): Media {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  const media: Media = [sound('time-remaining')];
  if (m > 0) media.push(`number:${m}`, sound(m === 1 ? 'minute' : 'minutes'));
  if (s > 0 || m === 0) media.push(`number:${s}`, sound(s === 1 ? 'second' : 'seconds'));
  return media;
}

/** The number's hold sound, a sound name set by the operator (see number_settings). */
export function holdSound(soundName: string): Media {
  return [`sound:${soundName}`];
}

/** Played once the last second is credited, just before the IVR hangs up. */
export function secondsConfirmed(): Media {
  return [sound('seconds-confirmed')];
}
