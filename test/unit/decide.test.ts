import { describe, expect, it } from 'vitest';
import type { CallFacts, LedgerView } from '../../db/ledger/index.js';
import { decideCall } from '../../ivr/decide.js';

const facts = (over: Partial<CallFacts> = {}): CallFacts => ({
  channelId: 'c1',
  asteriskId: null,
  dialedRaw: '0899123456',
  dialed: '+33899123456',
  callerRaw: '0612345678',
  caller: '+33612345678',
  ...over,
});
type P = NonNullable<LedgerView['purchase']>;
const purchase = (over: Partial<P> = {}): P => ({
  id: 'p1',
  status: 'pending',
  callsRequired: 3,
  callsCounted: 0,
  callsInProgress: 0,
  minCallSeconds: 10,
  language: 'en',
  ...over,
});
const view = (p: P | null, language: 'fr' | 'en' | null = 'fr', mode: 'caller_id' | 'dynamic_number' = 'caller_id'): LedgerView => ({
  number: language ? { mode, language, priceAnnouncement: null } : null,
  purchase: p,
});

describe('decideCall', () => {
  it.each([
    ['unknown number', facts(), view(null, null), { action: 'reject', outcome: 'unknown_number', language: 'fr' }],
    ['unparsable dialed number', facts({ dialed: null }), view(null, 'en'), { action: 'reject', outcome: 'unknown_number', language: 'fr' }],
    ['withheld caller', facts({ caller: null }), view(null, 'en'), { action: 'reject', outcome: 'anonymous', language: 'en' }],
    ['no purchase', facts(), view(null, 'en'), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['completed purchase', facts(), view(purchase({ status: 'completed', callsCounted: 3 })), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['cancelled purchase', facts(), view(purchase({ status: 'cancelled' })), { action: 'reject', outcome: 'no_purchase', language: 'en' }],
    ['expired purchase', facts(), view(purchase({ status: 'expired' })), { action: 'reject', outcome: 'expired', language: 'en' }],
    [
      'calls in progress will complete it',
      facts(),
      view(purchase({ callsCounted: 2, callsInProgress: 1 })),
      { action: 'reject', outcome: 'call_in_progress', language: 'en' },
    ],
    [
      'pending purchase',
      facts(),
      view(purchase({ callsCounted: 1 })),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    [
      'pending purchase with another call in progress but room left',
      facts(),
      view(purchase({ callsCounted: 1, callsInProgress: 1 })),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    ['pool number not lent', facts(), view(null, 'en', 'dynamic_number'), { action: 'reject', outcome: 'number_not_lent', language: 'en' }],
    [
      'withheld caller on a lent number',
      facts({ caller: null }),
      view(purchase({ callsRequired: 2 }), 'fr', 'dynamic_number'),
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 2, priceAnnouncement: null },
    ],
    [
      'lent number whose purchase completed',
      facts(),
      view(purchase({ status: 'completed', callsCounted: 3 }), 'fr', 'dynamic_number'),
      { action: 'reject', outcome: 'no_purchase', language: 'en' },
    ],
    [
      'pending purchase on a number with a price announcement',
      facts(),
      { number: { mode: 'caller_id', language: 'fr', priceAnnouncement: 'sanscode/price-2-99' }, purchase: purchase() } satisfies LedgerView,
      { action: 'answer', purchaseId: 'p1', language: 'en', minCallSeconds: 10, callsRemaining: 3, priceAnnouncement: 'sanscode/price-2-99' },
    ],
  ] as const)('%s', (_name, f, v, expected) => {
    expect(decideCall(f, v, 'fr')).toEqual(expected);
  });
});
