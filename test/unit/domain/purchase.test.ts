import { describe, expect, it } from 'vitest';
import { callsRemaining, effectiveStatus, purchaseLifetimeSeconds, type PurchaseStatus } from '../../../domain/index.js';

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
