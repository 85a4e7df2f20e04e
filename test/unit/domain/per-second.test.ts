import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANNOUNCE_EVERY_SECONDS,
  announcementMaxSeconds,
  CONFIRMATION_SECONDS,
  CREDIT_EVERY_SECONDS,
  decideCall,
  languages,
  progressDue,
  resumeCall,
  secondsConfirmed,
  secondsRemaining,
  secondsTimetable,
  secondsToCredit,
  timeRemaining,
  type CallContext,
  type PurchaseAtCall,
} from '../../../domain/index.js';

const sounds = path.resolve(import.meta.dirname, '../../../asterisk-conf/sounds');

describe('secondsToCredit', () => {
  it.each([
    // elapsed, credited by the call, remaining, confirming → credit, completes
    [5.4, 0, 60, false, 5, false],
    [5.9, 5, 55, false, 0, false], // asked again within the same second
    [10.4, 5, 55, false, 5, false],
    [0.7, 0, 60, false, 0, false], // not a whole second yet
    [95, 0, 30, false, 30, true], // kept far too long: never beyond the target
    [12, 5, 7, false, 7, true], // reaches the target exactly
    [5.02, 0, 8, true, 8, true], // confirming: the last 3 s (the prompt) credited ahead
    [4.99, 0, 8, true, 4, false], // confirming too early: only what is due
    [0, 0, 2, true, 2, true], // less left than the prompt: confirmed at once
    [3, 10, 8, false, 0, false], // clock behind the credits (cannot happen): nothing, never negative
  ])('elapsed %d s, credited %d, %d remaining, confirming %s → %d s, completes %s', (elapsed, credited, remaining, confirming, credit, completes) => {
    expect(secondsToCredit({ elapsedSeconds: elapsed, creditedByCall: credited, secondsRemaining: remaining, confirming })).toMatchObject({ credit, completes });
  });

  it('says how long until a confirming credit would complete', () => {
    expect(secondsToCredit({ elapsedSeconds: 2.5, creditedByCall: 0, secondsRemaining: 8, confirming: true }).secondsUntilCompletion).toBeCloseTo(2.5);
  });

  it('never credits more than remains, nor a second twice, whatever the sequence of credits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3600 }), fc.array(fc.tuple(fc.double({ min: 0, max: 30, noNaN: true }), fc.boolean()), { maxLength: 40 }), (required, steps) => {
        let elapsed = 0;
        let credited = 0;
        let counted = 0;
        for (const [advance, confirming] of steps) {
          elapsed += advance;
          const remaining = secondsRemaining({ secondsRequired: required, secondsCounted: counted });
          if (remaining === 0) break;
          const r = secondsToCredit({ elapsedSeconds: elapsed, creditedByCall: credited, secondsRemaining: remaining, confirming });
          credited += r.credit;
          counted += r.credit;
          expect(r.credit).toBeGreaterThanOrEqual(0);
          expect(counted).toBeLessThanOrEqual(required);
          expect(r.completes).toBe(counted === required);
          // Without the confirmation's allowance, never more than the whole seconds elapsed.
          if (!confirming) expect(credited).toBeLessThanOrEqual(Math.max(Math.floor(elapsed), credited - r.credit));
          else expect(credited).toBeLessThanOrEqual(Math.floor(elapsed) + CONFIRMATION_SECONDS);
        }
      }),
    );
  });
});

describe('progressDue', () => {
  it.each([
    [null, true],
    [4.9, false],
    [9.99, false],
    [10, true],
    [31, true],
  ])('%s s since the last progress → %s', (since, due) => {
    expect(progressDue(since)).toBe(due);
  });
});

describe('secondsTimetable', () => {
  it('for 8 s left (the e2e second call): says the time, then confirms 3 s before the target', () => {
    expect(secondsTimetable(8)).toEqual([
      { atSeconds: 0, kind: 'announce', secondsRemaining: 8 },
      { atSeconds: 5, kind: 'confirm' },
    ]);
  });

  it('for 20 s: credits every 5 s until the confirmation', () => {
    expect(secondsTimetable(20)).toEqual([
      { atSeconds: 0, kind: 'announce', secondsRemaining: 20 },
      { atSeconds: 5, kind: 'credit' },
      { atSeconds: 10, kind: 'credit' },
      { atSeconds: 15, kind: 'credit' },
      { atSeconds: 17, kind: 'confirm' },
    ]);
  });

  it('for 2 s: nothing but the confirmation, at once', () => {
    expect(secondsTimetable(2)).toEqual([{ atSeconds: 0, kind: 'confirm' }]);
  });

  it.each([1, 3, 8, 9, 37, 64, 95, 600, 3600])('%d s: the rules hold', (remaining) => {
    const steps = secondsTimetable(remaining);
    const confirm = steps.at(-1)!;
    expect(confirm).toEqual({ atSeconds: Math.max(0, remaining - CONFIRMATION_SECONDS), kind: 'confirm' });
    expect(steps.filter((s) => s.kind === 'confirm')).toHaveLength(1);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.atSeconds).toBeGreaterThanOrEqual(steps[i - 1]!.atSeconds);
    // Credits every 5 s: a crash loses at most 5 s.
    const credits = [0, ...steps.filter((s) => s.kind === 'credit').map((s) => s.atSeconds), confirm.atSeconds];
    for (let i = 1; i < credits.length; i++) expect(credits[i]! - credits[i - 1]!).toBeLessThanOrEqual(CREDIT_EVERY_SECONDS);
    // Announcements every 30 s, each ending before the confirmation, saying what is left.
    for (const s of steps) {
      if (s.kind !== 'announce') continue;
      expect(s.atSeconds % ANNOUNCE_EVERY_SECONDS).toBe(0);
      expect(s.atSeconds + announcementMaxSeconds(s.secondsRemaining)).toBeLessThanOrEqual(confirm.atSeconds);
      expect(s.secondsRemaining).toBe(remaining - s.atSeconds);
    }
  });
});

describe('per-second prompts', () => {
  it.each([
    [8, ['sound:sanscode/time-remaining', 'number:8', 'sound:sanscode/seconds']],
    [1, ['sound:sanscode/time-remaining', 'number:1', 'sound:sanscode/second']],
    [60, ['sound:sanscode/time-remaining', 'number:1', 'sound:sanscode/minute']],
    [125, ['sound:sanscode/time-remaining', 'number:2', 'sound:sanscode/minutes', 'number:5', 'sound:sanscode/seconds']],
    [0, ['sound:sanscode/time-remaining', 'number:0', 'sound:sanscode/seconds']],
  ])('%d s → %j', (seconds, media) => {
    expect(timeRemaining(seconds)).toEqual(media);
  });

  /** Duration of a PCM wav file from its header (what make-prompts.sh writes). */
  const wavSeconds = (file: string) => {
    const b = readFileSync(file);
    const byteRate = b.readUInt32LE(28);
    const dataAt = b.indexOf('data') + 8;
    return (b.length - dataAt) / byteRate;
  };

  it('ships every per-second sound in French and English', () => {
    const media = [timeRemaining(1), timeRemaining(125), timeRemaining(60), secondsConfirmed()].flat();
    for (const lang of languages) {
      for (const m of media.filter((x) => x.startsWith('sound:'))) {
        expect(existsSync(path.join(sounds, lang, `${m.slice('sound:'.length)}.wav`)), `${lang} ${m}`).toBe(true);
      }
    }
  });

  it('confirms within the allowance, with room for the hang-up: the caller is not billed past the target', () => {
    for (const lang of languages) {
      const seconds = wavSeconds(path.join(sounds, lang, 'sanscode/seconds-confirmed.wav'));
      expect(seconds, lang).toBeLessThanOrEqual(CONFIRMATION_SECONDS - 0.5);
    }
  });

  it('our words of an announcement fit its budget, leaving 1.3 s per number Asterisk speaks (2.1 s for a compound like 59)', () => {
    for (const lang of languages) {
      const word = (name: string) => wavSeconds(path.join(sounds, lang, `sanscode/${name}.wav`));
      const underAMinute = word('time-remaining') + 2.1 + word('seconds');
      const overAMinute = word('time-remaining') + 2.1 + word('minutes') + 2.1 + word('seconds');
      expect(underAMinute, lang).toBeLessThanOrEqual(announcementMaxSeconds(59));
      expect(overAMinute, lang).toBeLessThanOrEqual(announcementMaxSeconds(3599));
    }
  });
});

describe('decideCall for a per-second purchase', () => {
  const p = (over: Partial<PurchaseAtCall> = {}): PurchaseAtCall => ({
    id: 'p1',
    status: 'pending',
    callsRequired: 1,
    callsCounted: 0,
    callsInProgress: 0,
    minCallSeconds: 0,
    language: 'en',
    unit: 'second',
    secondsRequired: 20,
    secondsCounted: 12,
    ...over,
  });
  const facts = { channelId: 'c1', asteriskId: null, dialedRaw: '0899123456', dialed: '+33899123456', callerRaw: '0612345678', caller: '+33612345678' };
  const ctx = (purchase: PurchaseAtCall, priceAnnouncement: string | null = null): CallContext => ({ number: { mode: 'caller_id', language: 'fr', priceAnnouncement }, purchase });

  it.each([
    ['answers with the seconds left', p(), { action: 'answer', unit: 'second', secondsRemaining: 8, purchaseId: 'p1', language: 'en' }],
    ['refuses a second simultaneous call unanswered', p({ callsInProgress: 1 }), { action: 'reject', outcome: 'call_in_progress' }],
    ['refuses when no second is left', p({ secondsCounted: 20 }), { action: 'reject', outcome: 'no_purchase' }],
    ['refuses an expired purchase', p({ status: 'expired' }), { action: 'reject', outcome: 'expired' }],
    ['refuses a completed purchase', p({ status: 'completed', secondsCounted: 20 }), { action: 'reject', outcome: 'no_purchase' }],
  ])('%s', (_name, purchase, expected) => {
    expect(decideCall(facts, ctx(purchase), 'fr')).toMatchObject(expected);
  });

  it('keeps the price announcement of the number', () => {
    expect(decideCall(facts, ctx(p(), 'sanscode/price'), 'fr')).toMatchObject({ action: 'answer', priceAnnouncement: 'sanscode/price' });
  });

  it.each([
    ['the number has one', 'sanscode/hold-music', 'sanscode/hold-music'],
    ['none set: silence', null, null],
    ['not told (older callers of decideCall): silence', undefined, null],
  ])("carries the number's hold sound: %s", (_name, holdSound, expected) => {
    const context: CallContext = { number: { mode: 'caller_id', language: 'fr', priceAnnouncement: null, ...(holdSound !== undefined && { holdSound }) }, purchase: p() };
    expect(decideCall(facts, context, 'fr')).toMatchObject({ action: 'answer', unit: 'second', holdSound: expected });
  });

  it('leaves per-call decisions as they were (no unit member, no hold sound)', () => {
    const number = { mode: 'caller_id' as const, language: 'fr' as const, priceAnnouncement: null, holdSound: 'sanscode/hold-music' };
    const perCall = decideCall(facts, { number, purchase: p({ unit: 'call', secondsRequired: null, secondsCounted: 0 }) }, 'fr');
    expect(perCall).not.toHaveProperty('unit');
    expect(perCall).not.toHaveProperty('secondsRemaining');
    expect(perCall).not.toHaveProperty('holdSound');
  });

  it('resumes an in-progress per-second call with what the purchase still needs', () => {
    const purchase = { id: 'p1', callsRequired: 1, callsCounted: 0, minCallSeconds: 0, language: 'fr' as const, unit: 'second' as const, secondsRequired: 20, secondsCounted: 15 };
    expect(resumeCall('in_progress', { purchase, numberLanguage: 'fr' }, 'fr')).toMatchObject({ action: 'answer', unit: 'second', secondsRemaining: 5, priceAnnouncement: null });
    expect(resumeCall('in_progress', { purchase, numberLanguage: 'fr', holdSound: 'sanscode/hold-music' }, 'fr')).toMatchObject({ holdSound: 'sanscode/hold-music' });
  });
});
