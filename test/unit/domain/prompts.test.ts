import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { afterCount, greeting, identityPrompt, languages, refusal, refusalOutcomes } from '../../../domain/index.js';

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
    for (const o of refusalOutcomes) expect(refusal(o)[0]).toMatch(/^sound:sanscode\//);
  });
  it('tells whom the caller pays: the recorded names, or the generic sentence, then how to refuse', () => {
    expect(identityPrompt({ merchantNameSound: null, offerNameSound: null })).toEqual(['sound:sanscode/identity-purchase-generic', 'sound:sanscode/identity-hang-up-if-not-yours']);
    expect(identityPrompt({ merchantNameSound: 'names/journal', offerNameSound: 'names/article' })).toEqual([
      'sound:sanscode/identity-purchase-made-on',
      'sound:names/journal',
      'sound:sanscode/identity-purchase-for',
      'sound:names/article',
      'sound:sanscode/identity-hang-up-if-not-yours',
    ]);
    expect(identityPrompt({ merchantNameSound: null, offerNameSound: 'names/article' })).toEqual([
      'sound:sanscode/identity-purchase-generic',
      'sound:sanscode/identity-purchase-for',
      'sound:names/article',
      'sound:sanscode/identity-hang-up-if-not-yours',
    ]);
  });
  it('ships every sound the IVR plays, in French and in English', () => {
    const media = [
      greeting(1),
      greeting(3),
      afterCount(0),
      afterCount(2),
      ...refusalOutcomes.map(refusal),
      identityPrompt({ merchantNameSound: null, offerNameSound: null }),
      identityPrompt({ merchantNameSound: 'x', offerNameSound: 'y' }).filter((m) => m.startsWith('sound:sanscode/')),
    ].flat();
    const sounds = [...new Set(media.filter((m) => m.startsWith('sound:')).map((m) => m.slice('sound:'.length)))];
    for (const lang of languages) {
      for (const name of sounds) {
        expect(existsSync(path.resolve(import.meta.dirname, `../../../asterisk-conf/sounds/${lang}/${name}.wav`)), `${lang}/${name}`).toBe(true);
      }
    }
  });
});
