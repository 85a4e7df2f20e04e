import { describe, expect, it } from 'vitest';
import { callerToE164, toE164 } from '../../core/phone.js';

describe('toE164', () => {
  it.each(['06 12 34 56 78', '0612345678', '+33612345678', '33612345678', '0033612345678', '06.12.34.56.78'])(
    'reads buyer number %s as +33612345678',
    (input) => expect(toE164(input, 'FR')).toBe('+33612345678'),
  );
  it.each(['0899123456', '33899123456', '+33899123456', '08 99 12 34 56'])('reads premium number %s as +33899123456', (input) =>
    expect(toE164(input, 'FR')).toBe('+33899123456'),
  );
  it.each(['', '123', 'abc', '06123', '+99912345678', '0'.repeat(40)])('rejects %s', (input) => expect(toE164(input, 'FR')).toBeNull());
  it('uses the default region for national numbers', () => {
    expect(toE164('020 7946 0958', 'GB')).toBe('+442079460958');
    expect(toE164('+33612345678', 'GB')).toBe('+33612345678');
  });
});

describe('callerToE164', () => {
  it.each(['', 'anonymous', 'Anonymous', 'unknown', 'restricted', undefined, null])('treats %s as withheld', (raw) =>
    expect(callerToE164(raw, 'FR')).toBeNull(),
  );
  it('normalises what carriers send', () => {
    expect(callerToE164('33612345678', 'FR')).toBe('+33612345678');
    expect(callerToE164('0612345678', 'FR')).toBe('+33612345678');
  });
});
