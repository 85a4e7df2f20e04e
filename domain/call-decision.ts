// The call decisions: plain functions from what is known about a call to what the IVR does.
// No Asterisk, no database, no clock: the ledger reads the state under a row lock and calls
// them; test/unit/domain/call-decision.test.ts covers them as tables.
//
// The rule that matters: a premium call is billed once answered, so we answer only a call we
// can credit. Every other call is refused unanswered (early media prompt, then hang-up).
import { canFollowCaller } from './access-code.js';
import { secondsRemaining } from './per-second.js';
import type { PurchaseIdentity } from './identity.js';
import { callsRemaining, type CallTally } from './purchase.js';
import { isRefusal, type CallOutcome, type Language, type OfferMode, type PurchaseStatus, type PurchaseUnit, type RefusalOutcome } from './vocabulary.js';

/** What the IVR knows about a new channel, numbers already normalised (null: unusable). */
export interface CallFacts {
  channelId: string;
  asteriskId: string | null;
  dialedRaw: string;
  dialed: string | null;
  callerRaw: string;
  caller: string | null;
}

/** How the dialed number is sold. */
export interface DialedNumber {
  mode: OfferMode;
  language: Language;
  /** Sound played as free early media before answering (null: none, the carrier plays it). */
  priceAnnouncement: string | null;
  /** Sound a per-second caller hears between the time-remaining announcements (null or absent: silence). */
  holdSound?: string | null;
  /** access_code: calls of the number's formula (its one offer); absent in the other modes. */
  formulaCalls?: number | null;
}

/** The purchase a call would credit, as it stands under its lock. */
export interface PurchaseAtCall extends CallTally {
  id: string;
  /** Effective status (see effectiveStatus). */
  status: PurchaseStatus;
  /** Answered calls not yet over: they may still complete the purchase. */
  callsInProgress: number;
  minCallSeconds: number;
  language: Language;
  /** What the purchase counts (absent: calls). */
  unit?: PurchaseUnit;
  /** unit 'second': the seconds it needs and has. */
  secondsRequired?: number | null;
  secondsCounted?: number;
  /** caller_id: whose purchase this is, told to the caller before the answer (issue 13). */
  identity?: PurchaseIdentity;
}

/** What the call decision needs to know besides the call itself. */
export interface CallContext {
  /** How the dialed number is sold; null when it belongs to no offer. */
  number: DialedNumber | null;
  /**
   * caller_id: the caller's latest purchase on the dialed number;
   * dynamic_number: the purchase the number is lent to right now. Null if none.
   */
  purchase: PurchaseAtCall | null;
}

/** Answer the call: the only plan that lets it be billed. */
export interface Answer {
  action: 'answer';
  purchaseId: string;
  language: Language;
  minCallSeconds: number;
  callsRemaining: number;
  /** Sound to play as free early media before answering (null: none, the carrier plays it). */
  priceAnnouncement: string | null;
  /** 'second': the call pays seconds (ivr/scripts/pay-per-second.ts); absent: one call. */
  unit?: PurchaseUnit;
  /** unit 'second': seconds the purchase needs when the call is answered. */
  secondsRemaining?: number;
  /** unit 'second': the number's hold sound, looped between the announcements (null: silence). */
  holdSound?: string | null;
  /**
   * caller_id: whom the caller pays, played free after the price announcement; a caller who
   * hangs up during it disputes the purchase. Absent: no identity prompt (lent numbers, resumes).
   */
  identity?: PurchaseIdentity;
}

/** Refuse the call unanswered: explain it as early media, then hang up. */
export interface Refusal {
  action: 'reject';
  outcome: RefusalOutcome;
  language: Language;
}

/**
 * Answer a call on an access-code number: like Answer, but the caller is told the calls left
 * in their formula and, at its last call, hears the code issued by the count.
 */
export interface AnswerForCode extends Omit<Answer, 'action'> {
  action: 'answer_for_code';
}

/** What the call decision returns. */
export type Admission = Answer | AnswerForCode | Refusal;

/** The plans that answer the call (and so may bill it). */
export function answers(plan: CallPlan): plan is Answer | AnswerForCode {
  return plan.action === 'answer' || plan.action === 'answer_for_code';
}

/**
 * A channel seen again (an IVR restarted while it was up) whose call was already answered and
 * settled: say where the purchase stands and hang up. Never produced by decideCall.
 */
export interface Conclusion {
  action: 'conclude';
  language: Language;
  callsRemaining: number;
}

/** What to do with a channel: a new call's admission, or the resumption of a recorded one. */
export type CallPlan = Admission | Conclusion;

/** Decides whether to answer a new call. */
export function decideCall(facts: CallFacts, context: CallContext, defaultLanguage: Language): Admission {
  if (!facts.dialed || !context.number) return { action: 'reject', outcome: 'unknown_number', language: defaultLanguage };
  const numberLanguage = context.number.language;
  const p = context.purchase;
  switch (context.number.mode) {
    case 'dynamic_number':
      // A lent number identifies the purchase by itself: the caller may even be withheld. Free
      // or resting numbers (no live lending) are not answered.
      if (!p) return { action: 'reject', outcome: 'number_not_lent', language: numberLanguage };
      break;
    case 'caller_id':
      if (!facts.caller) return { action: 'reject', outcome: 'anonymous', language: numberLanguage };
      break;
    case 'access_code':
      // The formula is the caller's, found (or opened) by the ledger under a lock; a withheld
      // caller can only pay a single-call formula.
      if (!canFollowCaller(facts.caller, context.number.formulaCalls ?? 1)) return { action: 'reject', outcome: 'anonymous', language: numberLanguage };
      break;
  }
  if (!p || p.status === 'completed' || p.status === 'cancelled') {
    return { action: 'reject', outcome: 'no_purchase', language: p?.language ?? numberLanguage };
  }
  if (p.status === 'expired') return { action: 'reject', outcome: 'expired', language: p.language };
  if (p.unit === 'second') return decidePerSecond(p, context.number);
  const remaining = callsRemaining(p);
  // Calls already answered for this purchase may complete it: answering one more could bill a
  // call that can no longer be credited.
  if (p.callsInProgress >= remaining) return { action: 'reject', outcome: 'call_in_progress', language: p.language };
  return {
    action: context.number.mode === 'access_code' ? 'answer_for_code' : 'answer',
    purchaseId: p.id,
    language: p.language,
    minCallSeconds: p.minCallSeconds,
    callsRemaining: remaining,
    priceAnnouncement: context.number.priceAnnouncement,
    ...(p.identity && { identity: p.identity }),
  };
}

/**
 * A pending per-second purchase. One call at a time: a second simultaneous call is refused
 * unanswered (call_in_progress). Under the purchase lock the rule is exact: the call under way
 * holds every remaining second, so a second one could only be billed for seconds the purchase
 * cannot take.
 */
function decidePerSecond(p: PurchaseAtCall, number: DialedNumber): Admission {
  const remaining = secondsRemaining({ secondsRequired: p.secondsRequired ?? 0, secondsCounted: p.secondsCounted ?? 0 });
  if (remaining <= 0) return { action: 'reject', outcome: 'no_purchase', language: p.language };
  if (p.callsInProgress > 0) return { action: 'reject', outcome: 'call_in_progress', language: p.language };
  return {
    action: 'answer',
    purchaseId: p.id,
    language: p.language,
    minCallSeconds: p.minCallSeconds,
    callsRemaining: callsRemaining(p),
    priceAnnouncement: number.priceAnnouncement,
    unit: 'second',
    secondsRemaining: remaining,
    holdSound: number.holdSound ?? null,
  };
}

/** What a recorded call resumes against: its purchase now, and its dialed number's language. */
export interface ResumeContext {
  /** Language of the dialed number's offer; null when it belongs to no offer (or no longer). */
  numberLanguage: Language | null;
  /** The dialed number's hold sound (a resumed per-second call keeps hearing it); absent: none. */
  holdSound?: string | null;
  /** The purchase the call was recorded against, null if none. */
  purchase:
    | (CallTally & { id: string; minCallSeconds: number; language: Language; mode?: OfferMode; unit?: PurchaseUnit; secondsRequired?: number | null; secondsCounted?: number })
    | null;
}

/**
 * What to do with a channel already recorded (seen again after an IVR restart), from the
 * outcome recorded for it. The language is the one the first decision chose: the purchase's,
 * else the number's, else the default.
 */
export function resumeCall(recorded: CallOutcome, context: ResumeContext, defaultLanguage: Language): CallPlan {
  const p = context.purchase;
  const language = p?.language ?? context.numberLanguage ?? defaultLanguage;
  // Refused calls were never answered: refuse again, the same way.
  if (isRefusal(recorded)) return { action: 'reject', outcome: recorded, language };
  if (!p) return { action: 'reject', outcome: 'failed', language };
  const remaining = callsRemaining(p);
  // Counted (or otherwise settled) while we were away: only the goodbye is left.
  if (recorded !== 'in_progress') return { action: 'conclude', language, callsRemaining: remaining };
  // Still to count. The price was announced, if at all, the first time.
  if (p.mode === 'access_code') {
    return { action: 'answer_for_code', purchaseId: p.id, language, minCallSeconds: p.minCallSeconds, callsRemaining: remaining, priceAnnouncement: null };
  }
  const answer: Answer = { action: 'answer', purchaseId: p.id, language, minCallSeconds: p.minCallSeconds, callsRemaining: remaining, priceAnnouncement: null };
  if (p.unit !== 'second') return answer;
  return {
    ...answer,
    unit: 'second',
    secondsRemaining: secondsRemaining({ secondsRequired: p.secondsRequired ?? 0, secondsCounted: p.secondsCounted ?? 0 }),
    holdSound: context.holdSound ?? null,
  };
}
