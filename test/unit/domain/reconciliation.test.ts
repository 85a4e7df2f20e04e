// Carrier reconciliation as a table: which statement line goes with which call, and what each
// pair (or lone line, or lone call) is reported as.
import { describe, expect, it } from 'vitest';
import { matchCalls, reconcile, type BilledCall, type MerchantRef, type RecordedCall } from '../../../domain/reconciliation.js';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const SHOP: MerchantRef = { id: 'm1', name: 'Shop' };
const NEWS: MerchantRef = { id: 'm2', name: 'News' };
const A = '+33899000001';
const B = '+33899000002';
const CALLER = '+33612345678';

let lines = 1;
const billed = (start: number, over: Partial<BilledCall> = {}): BilledCall => ({ line: ++lines, start: at(start), caller: CALLER, called: A, billedSeconds: 30, ...over });
let ids = 0;
const call = (started: number, over: Partial<RecordedCall> & { answerAfter?: number } = {}): RecordedCall => {
  const { answerAfter = 2, ...rest } = over;
  const id = `call-${++ids}`;
  return {
    id,
    channelId: `chan-${id}`,
    startedAt: at(started),
    answeredAt: at(started + answerAfter),
    caller: CALLER,
    dialed: A,
    outcome: 'counted',
    answeredSeconds: 30,
    merchant: SHOP,
    ...rest,
  };
};
const options = (period: [number, number] = [-3600, 3600]) => ({
  toleranceSeconds: 5,
  durationToleranceSeconds: 2,
  period: { from: at(period[0]), to: at(period[1]) },
});

describe('matchCalls', () => {
  const cases: [string, BilledCall[], RecordedCall[], [number, number][]][] = (() => {
    const b1 = billed(0);
    const c1 = call(1);
    const b2 = billed(0);
    const c2 = call(6, { answerAfter: 8 }); // started 6 s off, answered 14 s off: too far
    const b3 = billed(0);
    const c3 = call(-10, { answerAfter: 12 }); // started 10 s before, answered 2 s after: the answer matches
    const b4 = billed(0, { caller: '+33699999999' });
    const c4 = call(0);
    const b5 = billed(0, { called: B });
    const c5 = call(0);
    const b6 = billed(0, { caller: null });
    const c6 = call(0, { caller: null });
    // Two lines, two calls close together: each line gets the closest free call.
    const b7 = billed(0);
    const b8 = billed(20);
    const c7 = call(19);
    const c8 = call(1);
    // One line, two calls: the answered one wins even when the refused one is closer.
    const b9 = billed(0);
    const c9 = call(0, { answeredAt: null, outcome: 'no_purchase', answeredSeconds: null });
    const c10 = call(3);
    // Two lines, one call: one to one, the closer line takes it.
    const b10 = billed(0);
    const b11 = billed(4);
    const c11 = call(3, { answerAfter: 0 });
    return [
      ['same numbers, 1 s apart', [b1], [c1], [[0, 0]]],
      ['start and answer both beyond the tolerance', [b2], [c2], []],
      ['answered within the tolerance though started before it', [b3], [c3], [[0, 0]]],
      ['another caller', [b4], [c4], []],
      ['another called number', [b5], [c5], []],
      ['withheld caller on both sides', [b6], [c6], [[0, 0]]],
      ['closest pairs', [b7, b8], [c7, c8], [[0, 1], [1, 0]]],
      ['an answered call before a closer unanswered one', [b9], [c9, c10], [[0, 1]]],
      ['one call for two lines', [b10, b11], [c11], [[1, 0]]],
    ];
  })();
  it.each(cases)('%s', (_name, lines, calls, expected) => {
    const pairs = matchCalls(lines, calls, 5);
    const got = lines.flatMap((b, i) => (pairs.has(b) ? [[i, calls.indexOf(pairs.get(b)!)] as [number, number]] : []));
    expect(got).toEqual(expected);
  });
});

describe('reconcile', () => {
  it('reports each kind of discrepancy once, and the lines that agree', () => {
    const ok = [billed(0), call(0)] as const;
    const withinDuration = [billed(100, { billedSeconds: 32 }), call(100)] as const;
    const noCall = billed(200);
    const tooShort = [billed(300, { billedSeconds: 8 }), call(300, { outcome: 'too_short', answeredSeconds: 8 })] as const;
    const lost = [billed(400), call(400, { outcome: 'lost', answeredSeconds: null })] as const;
    const longer = [billed(500, { billedSeconds: 95 }), call(500, { answeredSeconds: 90 })] as const;
    const unbilled = call(600, { dialed: B, merchant: NEWS, answeredSeconds: 40 });
    const refusedUnbilled = call(700, { answeredAt: null, outcome: 'no_purchase', answeredSeconds: null });
    const outsidePeriod = call(5000);

    const r = reconcile(
      [ok[0], withinDuration[0], noCall, tooShort[0], lost[0], longer[0]],
      [ok[1], withinDuration[1], tooShort[1], lost[1], longer[1], unbilled, refusedUnbilled, outsidePeriod],
      options([-5, 1000]),
    );

    expect(r.agreed).toBe(2);
    expect(r.billedNotCredited).toEqual([
      { billed: noCall, call: null },
      { billed: tooShort[0], call: tooShort[1] },
      { billed: lost[0], call: lost[1] },
    ]);
    expect(r.creditedNotBilled).toEqual([unbilled]);
    expect(r.durationMismatches).toEqual([{ billed: longer[0], call: longer[1], differenceSeconds: 5 }]);
    expect(r.perNumber).toEqual([
      { key: A, name: null, billedCalls: 6, billedSeconds: 30 + 32 + 30 + 8 + 30 + 95, creditedCalls: 3, creditedSeconds: 30 + 30 + 90, billedNotCredited: 3, creditedNotBilled: 0, durationMismatches: 1 },
      { key: B, name: null, billedCalls: 0, billedSeconds: 0, creditedCalls: 1, creditedSeconds: 40, billedNotCredited: 0, creditedNotBilled: 1, durationMismatches: 0 },
    ]);
    // The line with no call is the number's merchant's only when told who that is.
    expect(r.perMerchant.map((m) => [m.name, m.billedCalls, m.creditedCalls])).toEqual([
      ['News', 0, 1],
      ['Shop', 5, 3],
      [null, 1, 0],
    ]);
    const told = reconcile([noCall], [], { ...options(), numberMerchants: new Map([[A, SHOP]]) });
    expect(told.perMerchant).toMatchObject([{ key: 'm1', name: 'Shop', billedCalls: 1, billedNotCredited: 1 }]);
  });

  it('does not judge the duration of a credited call still under way', () => {
    const r = reconcile([billed(0, { billedSeconds: 500 })], [call(0, { answeredSeconds: null })], options());
    expect(r).toMatchObject({ agreed: 1, durationMismatches: [], billedNotCredited: [] });
  });

  it('counts a matched credited call outside the period, but does not ask for one', () => {
    const r = reconcile([billed(0)], [call(0), call(20)], options([10, 3600]));
    expect(r.agreed).toBe(1);
    expect(r.creditedNotBilled.map((c) => c.startedAt)).toEqual([at(20)]);
    expect(r.perNumber[0]).toMatchObject({ creditedCalls: 2, creditedNotBilled: 1 });
  });
});
