// The call decision: a plain function from (dialed number, caller, ledger state) to what the
// IVR does. No Asterisk, no database, no clock: the ledger calls it under a row lock with the
// state it read, and test/unit/decide.test.ts covers it as a table.
//
// The rule that matters: a premium call is billed once answered, so we answer only a call we
// can credit. Every other call is refused unanswered (early media prompt, then hang-up).
import type { Admission, CallFacts, LedgerView } from '../db/ledger/index.js';

export function decideCall(facts: CallFacts, view: LedgerView, defaultLanguage: 'fr' | 'en'): Admission {
  if (!facts.dialed || !view.number) return { action: 'reject', outcome: 'unknown_number', language: defaultLanguage };
  const numberLanguage = view.number.language;
  const p = view.purchase;
  if (view.number.mode === 'dynamic_number') {
    // A lent number identifies the purchase by itself: the caller may even be withheld. Free or
    // resting numbers (no live lending) are not answered.
    if (!p) return { action: 'reject', outcome: 'number_not_lent', language: numberLanguage };
  } else if (!facts.caller) {
    return { action: 'reject', outcome: 'anonymous', language: numberLanguage };
  }
  if (!p || p.status === 'completed' || p.status === 'cancelled') {
    return { action: 'reject', outcome: 'no_purchase', language: p?.language ?? numberLanguage };
  }
  if (p.status === 'expired') return { action: 'reject', outcome: 'expired', language: p.language };
  const remaining = p.callsRequired - p.callsCounted;
  // Calls already answered for this purchase may complete it: answering one more could bill a
  // call that can no longer be credited.
  if (p.callsInProgress >= remaining) return { action: 'reject', outcome: 'call_in_progress', language: p.language };
  return {
    action: 'answer',
    purchaseId: p.id,
    language: p.language,
    minCallSeconds: p.minCallSeconds,
    callsRemaining: remaining,
    priceAnnouncement: view.number.priceAnnouncement,
  };
}
