import { describe, expect, it } from 'vitest';
import { callsRemaining, effectiveStatus, type PurchaseStatus } from '../../../domain/index.js';

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
