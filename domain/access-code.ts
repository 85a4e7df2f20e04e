// Access codes (classic ticketing): the caller pays a formula of one or more calls on a printed
// number and, at its last call, hears an 8-digit code that the merchant redeems. Pure rules:
// what a code looks like, how one is drawn (the caller passes the random source: crypto in
// production), the redemption bound and what the IVR says. The ledger stores and locks.
import type { Media } from './prompts.js';

/** Digits of a code: 10^8 possible codes. */
export const CODE_DIGITS = 8;
export const CODE_SPACE = 10 ** CODE_DIGITS;

/** Offer defaults and bounds (seconds). */
export const DEFAULT_CODE_TTL_SECONDS = 86_400;
export const MAX_CODE_TTL_SECONDS = 31 * 86_400;
export const DEFAULT_FORMULA_WINDOW_SECONDS = 3_600;

/**
 * Failed redemptions (unknown, foreign, malformed-but-valid-shape codes, checks included) a
 * merchant may make in any rolling window; past it, 429 until the oldest failure leaves it.
 * 300 per hour = at most 7,200 guesses a day = 7.2e-5 of the code space (< 1e-4).
 */
export const REDEEM_FAILURES_PER_WINDOW = 300;
export const REDEEM_FAILURE_WINDOW_SECONDS = 3_600;

/** The largest fraction of the code space one merchant key can try in a day. */
export function dailyGuessFraction(failuresPerWindow = REDEEM_FAILURES_PER_WINDOW, windowSeconds = REDEEM_FAILURE_WINDOW_SECONDS): number {
  return (failuresPerWindow * (86_400 / windowSeconds)) / CODE_SPACE;
}

/** A well-formed code: exactly 8 ASCII digits (leading zeros included). */
export function isCodeShape(value: string): boolean {
  return /^[0-9]{8}$/.test(value);
}

/**
 * Draws a code from `randomBelow(n)`, a uniform integer in [0, n) — crypto.randomInt in the
 * ledger, so codes are unpredictable and never sequential. Zero-padded to 8 digits.
 */
export function drawCode(randomBelow: (n: number) => number): string {
  const n = randomBelow(CODE_SPACE);
  if (!Number.isInteger(n) || n < 0 || n >= CODE_SPACE) throw new Error('random source out of range');
  return String(n).padStart(CODE_DIGITS, '0');
}

/**
 * Whether a caller can be answered on an access-code number. A withheld caller cannot be
 * followed from one call to the next, so only a single-call formula can be paid that way;
 * for a longer one they are refused unanswered (and never billed).
 */
export function canFollowCaller(caller: string | null, callsRequired: number): boolean {
  return caller !== null || callsRequired === 1;
}

export type CodeState = 'valid' | 'redeemed' | 'expired';

/** A code's state at `lapsed` (its expiry passed, by the database clock). Redeemed wins. */
export function codeState(code: { redeemedAt: Date | null; lapsed: boolean }): CodeState {
  if (code.redeemedAt) return 'redeemed';
  return code.lapsed ? 'expired' : 'valid';
}

const sound = (name: string) => `sound:sanscode/${name}`;

/** "Your access code is 1 2 3 4 5 6 7 8. I repeat: 1 2 3 4 5 6 7 8. Press star to hear it again." */
export function codeAnnouncement(code: string): Media {
  if (!isCodeShape(code)) throw new Error('not a code');
  return [sound('code-intro'), `digits:${code}`, sound('code-again'), `digits:${code}`, sound('code-repeat-star')];
}

/** After `*`: the code once more, digit by digit. */
export function codeRepeat(code: string): Media {
  if (!isCodeShape(code)) throw new Error('not a code');
  return [sound('code-intro'), `digits:${code}`, sound('code-repeat-star')];
}

/** Before hanging up on a caller who has their code. */
export function codeGoodbye(): Media {
  return [sound('code-goodbye')];
}

/** How many times `*` replays the code in one call (a bound: the caller pays by the minute). */
export const MAX_CODE_REPEATS = 3;
/** How long the IVR listens for `*` after each reading. */
export const CODE_REPEAT_LISTEN_MS = 6_000;
