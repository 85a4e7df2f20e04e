import { describe, expect, it } from 'vitest';
import {
  decideCall,
  resumeCall,
  type CallContext,
  type CallFacts,
  type CallOutcome,
  type Language,
  type OfferMode,
  type PurchaseAtCall,
  type ResumeContext,
} from '../../../domain/index.js';

const facts = (over: Partial<CallFacts> = {}): CallFacts => ({
  channelId: 'c1',
  asteriskId: null,
  dialedRaw: '0899123456',
  dialed: '+33899123456',
  callerRaw: '0612345678',
  caller: '+33612345678',
  ...over,
});
const purchase = (over: Partial<PurchaseAtCall> = {}): PurchaseAtCall => ({
  id: 'p1',
  status: 'pending',
  callsRequired: 3,
  callsCounted: 0,
  callsInProgress: 0,
  minCallSeconds: 10,
  language: 'en',
  ...over,
});
const context = (p: PurchaseAtCall | null, language: Language | null = 'fr', mode: OfferMode = 'caller_id'): CallContext => ({
  number: language ? { mode, language, priceAnnouncement: null } : null,
  purchase: p,
});

describe('decideCall', () => {
  it.each([
    ['unknown number', facts(), context(null, null), { action: 'reject', outcome: 'unknown_number', language: 'fr' }],
    ['unparsable dialed number', facts({ dialed: null }), context(null, 'en'), { action: 'reject', outcome: 'unknown_number', language: 'fr' }],
    ['withheld caller', facts({ caller: null }), context(null, 'en'), { action: 'reject', outcome: 'anonymous', language: 'en' }],
    ['no purchase', facts(), context(null, 'en'), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['completed purchase', facts(), context(purchase({ status: 'completed', callsCounted: 3 })), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['cancelled purchase', facts(), context(purchase({ status: 'cancelled' })), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['expired purchase', facts(), context(purchase({ status: 'expired' })), { action: 'reject', outcome: 'expired', language: 'en' }],
    [
      'calls in progress will complete it',
      facts(),
      context(purchase({ callsCounted: 2, callsInProgress: 1 })),
      { action: 'reject', outcome: 'call_in_progress', language: 'en' },
    ],
    [
      'pending purchase',
      facts(),
      context(purchase({ callsCounted: 1 })),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    [
      'pending purchase with another call in progress but room left',
      facts(),
      context(purchase({ callsCounted: 1, callsInProgress: 1 })),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    ['pool number not lent', facts(), context(null, 'en', 'dynamic_number'), { action: 'reject', outcome: 'number_not_lent', language: 'en' }],
    [
      'withheld caller on a lent number',
      facts({ caller: null }),
      context(purchase({ callsRequired: 2 }), 'fr', 'dynamic_number'),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    [
      'lent number whose purchase completed',
      facts(),
      context(purchase({ status: 'completed', callsCounted: 3 }), 'fr', 'dynamic_number'),
      { action: 'reject', outcome: 'no_purchase', language: 'en' },
    ],
    [
      'pending purchase on a number with a price announcement',
      facts(),
      { number: { mode: 'caller_id', language: 'fr', priceAnnouncement: 'sanscode/price-2-99' }, purchase: purchase() } satisfies CallContext,
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 3, priceAnnouncement: 'sanscode/price-2-99' },
    ],
  ] as const)('%s', (_name, f, c, expected) => {
    expect(decideCall(f, c, 'fr')).toEqual(expected);
  });

  it('speaks the default language on a number that belongs to no offer', () => {
    expect(decideCall(facts(), context(null, null), 'en')).toEqual({ action: 'reject', outcome: 'unknown_number', language: 'en' });
  });
});

describe('resumeCall (a recorded channel seen again after an IVR restart)', () => {
  const recorded = { id: 'p1', callsRequired: 3, callsCounted: 1, minCallSeconds: 10, language: 'en' } as const;
  const resume = (outcome: CallOutcome, over: Partial<ResumeContext> = {}) =>
    resumeCall(outcome, { purchase: recorded, numberLanguage: 'fr', ...over }, 'fr');

  it.each([
    ['refused with its purchase: refused again, in its language', resume('expired'), { action: 'reject', outcome: 'expired', language: 'en' }],
    [
      'refused without a purchase: the number’s language',
      resume('anonymous', { purchase: null, numberLanguage: 'en' }),
      { action: 'reject', outcome: 'anonymous', language: 'en' },
    ],
    [
      'refused on a number of no offer: the default language, not a fixed one',
      resumeCall('unknown_number', { purchase: null, numberLanguage: null }, 'en'),
      { action: 'reject', outcome: 'unknown_number', language: 'en' },
    ],
    ['pool number not lent', resume('number_not_lent', { purchase: null }), { action: 'reject', outcome: 'number_not_lent', language: 'fr' }],
    [
      'still in progress: answered again, without a second price announcement',
      resume('in_progress'),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    ['counted while away: only the goodbye', resume('counted', { purchase: { ...recorded, callsCounted: 3 } }), { action: 'conclude', language: 'en', callsRemaining: 0 }],
    ['too short', resume('too_short'), { action: 'conclude', language: 'en', callsRemaining: 2 }],
    ['abandoned', resume('abandoned'), { action: 'conclude', language: 'en', callsRemaining: 2 }],
    ['lost', resume('lost'), { action: 'conclude', language: 'en', callsRemaining: 2 }],
    [
      'accepted but its purchase is gone: refused as a failure',
      resumeCall('in_progress', { purchase: null, numberLanguage: null }, 'en'),
      { action: 'reject', outcome: 'failed', language: 'en' },
    ],
  ] as const)('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});
