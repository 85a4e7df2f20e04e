import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canFollowCaller,
  codeAnnouncement,
  codeGoodbye,
  codeRepeat,
  codeState,
  dailyGuessFraction,
  decideCall,
  drawCode,
  isCodeShape,
  languages,
  resumeCall,
  type CallContext,
  type CallFacts,
  type PurchaseAtCall,
} from '../../../domain/index.js';

const facts = (caller: string | null): CallFacts => ({ channelId: 'c1', asteriskId: null, dialedRaw: '0899100001', dialed: '+33899100001', callerRaw: caller ?? '', caller });
const formula = (over: Partial<PurchaseAtCall> = {}): PurchaseAtCall => ({
  id: 'f1',
  status: 'pending',
  callsRequired: 2,
  callsCounted: 0,
  callsInProgress: 0,
  minCallSeconds: 5,
  language: 'fr',
  ...over,
});
const onCodeNumber = (formulaCalls: number, p: PurchaseAtCall | null): CallContext => ({
  number: { mode: 'access_code', language: 'fr', priceAnnouncement: null, formulaCalls },
  purchase: p,
});

describe('decideCall on an access-code number', () => {
  it.each([
    ['withheld caller, 2-call formula: refused unanswered', facts(null), onCodeNumber(2, null), { action: 'reject', outcome: 'anonymous', language: 'fr' }],
    [
      'withheld caller, 1-call formula: answered',
      facts(null),
      onCodeNumber(1, formula({ callsRequired: 1 })),
      { action: 'answer_for_code', purchaseId: 'f1', language: 'fr', minCallSeconds: 5, callsRemaining: 1, priceAnnouncement: null },
    ],
    [
      'first call of a 2-call formula',
      facts('+33612345678'),
      onCodeNumber(2, formula()),
      { action: 'answer_for_code', purchaseId: 'f1', language: 'fr', minCallSeconds: 5, callsRemaining: 2, priceAnnouncement: null },
    ],
    [
      'last call of a 3-call formula',
      facts('+33612345678'),
      onCodeNumber(3, formula({ callsRequired: 3, callsCounted: 2 })),
      { action: 'answer_for_code', purchaseId: 'f1', language: 'fr', minCallSeconds: 5, callsRemaining: 1, priceAnnouncement: null },
    ],
    [
      'a call already under way will end the formula',
      facts('+33612345678'),
      onCodeNumber(2, formula({ callsCounted: 1, callsInProgress: 1 })),
      { action: 'reject', outcome: 'call_in_progress', language: 'fr' },
    ],
  ])('%s', (_name, f, ctx, expected) => {
    expect(decideCall(f, ctx, 'en')).toEqual(expected);
  });

  it('resumes an access-code call after an IVR restart with the code script', () => {
    const plan = resumeCall('in_progress', { numberLanguage: 'fr', purchase: { id: 'f1', callsRequired: 2, callsCounted: 1, minCallSeconds: 5, language: 'fr', mode: 'access_code' } }, 'en');
    expect(plan.action).toBe('answer_for_code');
  });
});

describe('access-code rules', () => {
  it.each([
    ['+33612345678', 1, true],
    ['+33612345678', 5, true],
    [null, 1, true],
    [null, 2, false],
    [null, 20, false],
  ] as const)('caller %s on a %i-call formula can be followed: %s', (caller, calls, expected) => {
    expect(canFollowCaller(caller, calls)).toBe(expected);
  });

  it.each([
    ['12345678', true],
    ['00000000', true],
    ['1234567', false],
    ['123456789', false],
    ['1234567a', false],
    [' 12345678', false],
    ['１２３４５６７８', false],
  ])('%j is a code: %s', (value, expected) => {
    expect(isCodeShape(value)).toBe(expected);
  });

  it('draws 8 digits, zero-padded, from the whole space', () => {
    expect(drawCode(() => 0)).toBe('00000000');
    expect(drawCode(() => 42)).toBe('00000042');
    expect(drawCode((n) => n - 1)).toBe('99999999');
    expect(() => drawCode((n) => n)).toThrow(/out of range/);
    expect(() => drawCode(() => 1.5)).toThrow(/out of range/);
  });

  it.each([
    [{ redeemedAt: null, lapsed: false }, 'valid'],
    [{ redeemedAt: null, lapsed: true }, 'expired'],
    [{ redeemedAt: new Date(0), lapsed: false }, 'redeemed'],
    [{ redeemedAt: new Date(0), lapsed: true }, 'redeemed'],
  ] as const)('code %j is %s', (code, expected) => {
    expect(codeState(code)).toBe(expected);
  });

  it('bounds guessing below 1 in 10,000 of the code space a day', () => {
    expect(dailyGuessFraction()).toBeCloseTo(7.2e-5, 10);
    expect(dailyGuessFraction()).toBeLessThan(1e-4);
    // The bound the design notes first suggested (20 a minute) would not do.
    expect(dailyGuessFraction(20, 60)).toBeGreaterThan(1e-4);
  });

  it('reads the code twice, digit by digit, then offers * to repeat it', () => {
    expect(codeAnnouncement('04071826')).toEqual([
      'sound:sanscode/code-intro',
      'digits:04071826',
      'sound:sanscode/code-again',
      'digits:04071826',
      'sound:sanscode/code-repeat-star',
    ]);
    expect(codeRepeat('04071826')).toEqual(['sound:sanscode/code-intro', 'digits:04071826', 'sound:sanscode/code-repeat-star']);
    expect(() => codeAnnouncement('1234')).toThrow();
  });

  it('ships every code prompt in French and in English', () => {
    const sounds = [...codeAnnouncement('12345678'), ...codeGoodbye()].filter((m) => m.startsWith('sound:')).map((m) => m.slice('sound:'.length));
    for (const lang of languages) {
      for (const name of sounds) expect(existsSync(path.resolve(import.meta.dirname, `../../../asterisk-conf/sounds/${lang}/${name}.wav`)), `${lang}/${name}`).toBe(true);
    }
  });
});
