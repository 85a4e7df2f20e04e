// The carrier statement's CSV and the CLI's times: what is accepted, and how bad lines are named.
import { describe, expect, it } from 'vitest';
import { parseStatement, splitCsvLine } from '../../bin/cli/statement.js';
import { parseTimestamp, table, UsageError } from '../../bin/cli/shared.js';

describe('parseTimestamp', () => {
  it.each([
    ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01T10:00:00Z', '2026-11-01T10:00:00.000Z'],
    ['2026-11-01 10:00:00', '2026-11-01T10:00:00.000Z'],
    ['2026-11-01 10:00', '2026-11-01T10:00:00.000Z'],
    ['2026-11-01 10:00:00+01:00', '2026-11-01T09:00:00.000Z'],
    ['2026-11-01T10:00:00.250-0230', '2026-11-01T12:30:00.250Z'],
    ['2026-11-01 10:00:00 +02', '2026-11-01T08:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each(['', '01/11/2026 10:00', '2026-02-30', '2026-11-01 25:00:00', '2026-11-01 10:00:61', '2026-11-01Z', 'yesterday'])('refuses "%s"', (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });
});

describe('parseStatement', () => {
  it('reads the documented columns in any order, either delimiter, quoted or not, ignoring others', () => {
    const comma = 'called,start,Caller,billed_seconds,cost\n0899123456,2026-11-01 10:00:00,06 12 34 56 78,31,"1,50"\n\n"+33899123456","2026-11-01T10:05:00+01:00",anonymous,12.5,0\n';
    const semicolon = '\uFEFFstart;caller;called;billed_seconds\r\n2026-11-01 10:00:00;0033612345678;33899123456;31\r\n2026-11-01 09:05:00;;0899123456;12,5\r\n';
    const expected = [
      { line: 2, start: new Date('2026-11-01T10:00:00Z'), caller: '+33612345678', called: '+33899123456', billedSeconds: 31 },
      { line: expect.any(Number), start: new Date('2026-11-01T09:05:00Z'), caller: null, called: '+33899123456', billedSeconds: 12.5 },
    ];
    expect(parseStatement(comma, 'FR')).toEqual(expected);
    expect(parseStatement(semicolon, 'FR')).toEqual(expected);
    expect(parseStatement(comma, 'FR')[1]!.line).toBe(4);
  });

  it.each([
    ['', /empty/],
    ['start,caller,billed_seconds\n', /lacks column\(s\) called/],
    ['start,caller,called,billed_seconds\n2026-13-01 10:00:00,0612345678,0899123456,30', /line 2: start "2026-13-01 10:00:00"/],
    ['start,caller,called,billed_seconds\n2026-11-01 10:00:00,0612,0899123456,30', /line 2: caller "0612"/],
    ['start,caller,called,billed_seconds\n2026-11-01 10:00:00,0612345678,0899,30', /line 2: called "0899"/],
    ['start,caller,called,billed_seconds\n2026-11-01 10:00:00,0612345678,0899123456,-3', /line 2: billed_seconds "-3"/],
    ['start,caller,called,billed_seconds\n2026-11-01 10:00:00,0612345678', /line 2: 2 field\(s\)/],
  ])('refuses %j', (text, message) => {
    expect(() => parseStatement(text, 'FR')).toThrow(UsageError);
    expect(() => parseStatement(text, 'FR')).toThrow(message);
  });

  it('names up to three bad lines in one message', () => {
    const text = 'start,caller,called,billed_seconds\n' + 'x,0612345678,0899123456,1\n'.repeat(5);
    expect(() => parseStatement(text, 'FR')).toThrow(/^line 2: .*; line 3: .*; line 4: [^;]*$/);
  });

  it('splits quoted fields with delimiters and quotes inside', () => {
    expect(splitCsvLine('a, "b,c" ,"say ""hi""",', ',')).toEqual(['a', 'b,c', 'say "hi"', '']);
  });
});

describe('table', () => {
  it('aligns columns, numbers to the right', () => {
    expect(table(['name', 'calls'], [['Shop', 3], ['Le Journal', 12]])).toBe(['name        calls', '----------  -----', 'Shop            3', 'Le Journal     12'].join('\n'));
    expect(table(['a'], [])).toBe('(none)');
  });
});
