import { describe, expect, it } from 'vitest';
import { callsRemaining, effectiveStatus, numberForCaller, purchaseLifetimeSeconds, type HeldNumber, type PurchaseStatus } from '../../../domain/index.js';

describe('effectiveStatus', () => {
  it.each([
    ['pending', false, 'pending'],
    ['pending', true, 'expired'],
    ['completed', true, 'completed'],
    ['completed', false, 'completed'],
    ['cancelled', true, 'cancelled'],
    ['expired', false, 'expired'],
    ['expired', true, 'expired'],
  ] as [PurchaseStatus, boolean, PurchaseStatus][])('%s, lapsed %s: %s', (status, lapsed, expected) => {
    expect(effectiveStatus({ status, lapsed })).toBe(expected);
  });
});

describe('callsRemaining', () => {
  it.each([
    [3, 0, 3],
    [3, 2, 1],
    [3, 3, 0],
  ])('%i required, %i counted: %i', (callsRequired, callsCounted, expected) => {
    expect(callsRemaining({ callsRequired, callsCounted })).toBe(expected);
  });
});

describe('purchaseLifetimeSeconds', () => {
  it.each([
    ['caller_id: the purchase TTL', { mode: 'caller_id', purchaseTtlSeconds: 900, holdSeconds: null }, 900],
    ['dynamic_number: the hold of the lent number', { mode: 'dynamic_number', purchaseTtlSeconds: null, holdSeconds: 300 }, 300],
  ] as const)('%s', (_name, offer, expected) => {
    expect(purchaseLifetimeSeconds(offer)).toBe(expected);
  });
  it('refuses an offer without the lifetime its mode needs', () => {
    expect(() => purchaseLifetimeSeconds({ mode: 'dynamic_number', purchaseTtlSeconds: 900, holdSeconds: null })).toThrow(/without its lifetime/);
  });
});

describe('numberForCaller', () => {
  const held = (purchaseId: string, offerId: string, number: string): HeldNumber => ({ purchaseId, offerId, number });
  it.each([
    ['nothing held: the first number', ['+33899000001', '+33899000002'], [], { number: '+33899000001' }],
    ['the first held: the next one', ['+33899000001', '+33899000002'], [held('p1', 'other', '+33899000001')], { number: '+33899000002' }],
    ['a number of no interest held: the first', ['+33899000001'], [held('p1', 'other', '+33899000009')], { number: '+33899000001' }],
    ['all held, one for this offer: resume it', ['+33899000001'], [held('p1', 'offer', '+33899000001')], { number: null, ownPending: 'p1' }],
    ['all held by other offers: none to resume', ['+33899000001'], [held('p1', 'other', '+33899000001')], { number: null, ownPending: null }],
    ['no number at all', [], [], { number: null, ownPending: null }],
  ] as [string, string[], HeldNumber[], ReturnType<typeof numberForCaller>][])('%s', (_, numbers, taken, expected) => {
    expect(numberForCaller('offer', numbers, taken)).toEqual(expected);
  });
});
