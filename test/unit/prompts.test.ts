import { describe, expect, it } from 'vitest';
import { afterCount, greeting, refusal } from '../../ivr/prompts.js';

describe('prompt sequences', () => {
  it('says "one call" without a number, and N calls with number:N', () => {
    expect(greeting(1)).toEqual(['sound:sanscode/calls-remaining-one', 'sound:sanscode/please-hold']);
    expect(greeting(3)).toEqual([
      'sound:sanscode/calls-remaining-prefix',
      'number:3',
      'sound:sanscode/calls-remaining-suffix',
      'sound:sanscode/please-hold',
    ]);
  });
  it('confirms the purchase on the last call', () => {
    expect(afterCount(0)).toEqual(['sound:sanscode/purchase-confirmed']);
    expect(afterCount(2)).toContain('number:2');
  });
  it('explains every refusal', () => {
    for (const o of ['anonymous', 'no_purchase', 'unknown_number', 'expired', 'call_in_progress', 'failed'] as const) {
      expect(refusal(o)[0]).toMatch(/^sound:sanscode\//);
    }
  });
});
