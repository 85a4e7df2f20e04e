// `sanscode reconcile` on a generated carrier statement holding each kind of difference, against
// calls recorded through the ledger: the report as JSON, as CSV, and as tables.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchase } from '../../db/ledger/index.js';
import { runSanscode } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { recordCall } from '../support/recorded-calls.js';

const T = Date.parse('2026-10-05T10:00:00Z');
const at = (seconds: number) => new Date(T + seconds * 1000);
const SHOP_NUMBER = '+33899500001';
const SHOP_TIMED_NUMBER = '+33899500003'; // 30 s minimum: for a too-short call
const NEWS_NUMBER = '+33899500002';

let t: TestDatabase;
let dir: string;
let statement: string;
const channel: Record<string, string> = {};

beforeAll(async () => {
  t = await createTestDatabase();
  dir = mkdtempSync(path.join(tmpdir(), 'sanscode-reconcile-'));
  const shop = await provision(t.db, { callsRequired: 5, numbers: [SHOP_NUMBER] }, 'Shop');
  const timed = await provision(t.db, { callsRequired: 1, minCallSeconds: 30, numbers: [SHOP_TIMED_NUMBER] }, 'Shop timed');
  const news = await provision(t.db, { callsRequired: 5, numbers: [NEWS_NUMBER] }, 'News');
  const buy = (p: typeof shop, caller: string) => createPurchase(t.db, p.merchant.id, { offerId: p.offer.id, callerNumber: caller });
  await buy(shop, '+33611111111');
  await buy(shop, '+33644444444');
  await buy(timed, '+33633333333');
  await buy(news, '+33655555555');

  channel.agrees = await recordCall(t.db, 'counted', SHOP_NUMBER, '+33611111111', at(0), 30);
  channel.longer = await recordCall(t.db, 'counted', SHOP_NUMBER, '+33611111111', at(600), 60);
  channel.tooShort = await recordCall(t.db, 'too_short', SHOP_TIMED_NUMBER, '+33633333333', at(1800), 10);
  channel.lost = await recordCall(t.db, 'lost', SHOP_NUMBER, '+33644444444', at(2400), 0);
  channel.unbilled = await recordCall(t.db, 'counted', NEWS_NUMBER, '+33655555555', at(3000), 45);
  channel.refused = await recordCall(t.db, 'refused', NEWS_NUMBER, '+33666666666', at(3300), 0);
  channel.nextDay = await recordCall(t.db, 'counted', NEWS_NUMBER, '+33655555555', at(86_400), 45);

  // The carrier's statement: ";" delimited, times in Paris time (UTC+2 in October), national numbers.
  statement = path.join(dir, 'statement-2026-10.csv');
  writeFileSync(
    statement,
    [
      'start;caller;called;billed_seconds;tariff',
      '2026-10-05 12:00:03+02:00;0611111111;0899500001;31;2,99', // line 2: our answer 1 s off, 1 s longer: agrees
      '2026-10-05 12:10:01+02:00;0611111111;0899500001;75;2,99', // line 3: 15 s longer than our 60
      '2026-10-05 12:20:00+02:00;0622222222;0899500001;40;2,99', // line 4: no such call
      '2026-10-05 12:30:02+02:00;0633333333;0899500003;10;2,99', // line 5: answered but too short: not credited
      '2026-10-05 12:40:02+02:00;0644444444;0899500001;50;2,99', // line 6: lost by the IVR: not credited
      '2026-10-05 12:55:04+02:00;0611111111;0899500001;20;2,99', // line 7: nothing within 5 s (our call at 12:55 is none)
      '',
    ].join('\r\n'),
  );
});
afterAll(async () => {
  await t?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Each run is a Node process compiling TypeScript: seconds each on a busy 2-core machine.
describe('sanscode reconcile', { timeout: 180_000 }, () => {
  it('reports billed calls not credited, credited calls not billed, duration mismatches, and totals (JSON)', async () => {
    const res = await runSanscode(t.url, ['reconcile', statement, '--json']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const r = res.json();
    expect(r).toMatchObject({ statementLines: 6, agreed: 1, from: '2026-10-05T09:59:58.000Z', to: '2026-10-05T10:55:09.000Z' });
    expect(r.billedNotCredited.map((d: any) => [d.billed.line, d.call?.channelId ?? null, d.call?.outcome ?? null])).toEqual([
      [4, null, null],
      [5, channel.tooShort, 'too_short'],
      [6, channel.lost, 'lost'],
      [7, null, null],
    ]);
    // The next day's call is outside the statement's period; the refused one was never credited.
    expect(r.creditedNotBilled.map((c: any) => [c.channelId, c.merchant.name])).toEqual([[channel.unbilled, 'News']]);
    expect(r.durationMismatches).toMatchObject([{ billed: { line: 3, billedSeconds: 75 }, call: { channelId: channel.longer, answeredSeconds: 60 }, differenceSeconds: 15 }]);
    expect(r.perNumber).toEqual([
      { key: SHOP_NUMBER, name: null, billedCalls: 5, billedSeconds: 31 + 75 + 40 + 50 + 20, creditedCalls: 2, creditedSeconds: 90, billedNotCredited: 3, creditedNotBilled: 0, durationMismatches: 1 },
      { key: NEWS_NUMBER, name: null, billedCalls: 0, billedSeconds: 0, creditedCalls: 1, creditedSeconds: 45, billedNotCredited: 0, creditedNotBilled: 1, durationMismatches: 0 },
      { key: SHOP_TIMED_NUMBER, name: null, billedCalls: 1, billedSeconds: 10, creditedCalls: 0, creditedSeconds: 0, billedNotCredited: 1, creditedNotBilled: 0, durationMismatches: 0 },
    ]);
    // The unmatched lines are put under the merchant of their number (one merchant uses it).
    expect(r.perMerchant.map((m: any) => [m.name, m.billedCalls, m.billedNotCredited, m.creditedCalls, m.creditedNotBilled, m.durationMismatches])).toEqual([
      ['News', 0, 0, 1, 1, 0],
      ['Shop', 5, 3, 2, 0, 1],
      ['Shop timed', 1, 1, 0, 0, 0],
    ]);
  });

  it('writes the discrepancies and the totals as CSV, and everything as tables', async () => {
    const [csv, totals, text] = await Promise.all([
      runSanscode(t.url, ['reconcile', statement, '--csv']),
      runSanscode(t.url, ['reconcile', statement, '--csv', '--totals']),
      runSanscode(t.url, ['reconcile', statement]),
    ]);
    expect(csv.code).toBe(0);
    expect(csv.stdout.trimEnd().split('\n')).toEqual([
      'category,line,start,caller,called,billed_seconds,channel_id,call_started,outcome,answered_seconds,difference_seconds,merchant',
      'billed_not_credited,4,2026-10-05T10:20:00.000Z,+33622222222,+33899500001,40,,,,,,',
      `billed_not_credited,5,2026-10-05T10:30:02.000Z,+33633333333,+33899500003,10,${channel.tooShort},2026-10-05T10:30:00.000Z,too_short,10,,Shop timed`,
      `billed_not_credited,6,2026-10-05T10:40:02.000Z,+33644444444,+33899500001,50,${channel.lost},2026-10-05T10:40:00.000Z,lost,0,,Shop`,
      'billed_not_credited,7,2026-10-05T10:55:04.000Z,+33611111111,+33899500001,20,,,,,,',
      `credited_not_billed,,,+33655555555,+33899500002,,${channel.unbilled},2026-10-05T10:50:00.000Z,counted,45,,News`,
      `duration_mismatch,3,2026-10-05T10:10:01.000Z,+33611111111,+33899500001,75,${channel.longer},2026-10-05T10:10:00.000Z,counted,60,15,Shop`,
    ]);
    const totalLines = totals.stdout.trimEnd().split('\n');
    expect(totalLines[0]).toBe('scope,key,merchant,billed_calls,billed_seconds,credited_calls,credited_seconds,billed_not_credited,credited_not_billed,duration_mismatches');
    expect(totalLines).toContain(`number,${SHOP_NUMBER},,5,216,2,90,3,0,1`);
    expect(totalLines.filter((l) => l.startsWith('merchant,')).map((l) => l.split(',').slice(2).join(','))).toEqual([
      'News,0,0,1,45,0,1,0',
      'Shop,5,216,2,90,3,0,1',
      'Shop timed,1,10,0,0,1,0,0',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^6 billed line\(s\).*\n1 agree, 4 billed not credited, 1 credited not billed, 1 duration mismatch\(es\)\./);
    for (const section of ['Billed, not credited:', 'Credited, not billed:', 'Duration mismatches:', 'Totals per number:', 'Totals per merchant:']) {
      expect(text.stdout).toContain(`\n${section}\n`);
    }
  });

  it('widens the match with --tolerance and the period with --to', async () => {
    const res = await runSanscode(t.url, ['reconcile', statement, '--tolerance', '300', '--to', '2026-10-07', '--json']);
    const r = res.json();
    // Five minutes of tolerance find no call for lines 4 and 7 (none from those callers on that
    // number), and the next day's News call joins the credited calls nobody billed.
    expect(r.billedNotCredited.map((d: any) => d.billed.line)).toEqual([4, 5, 6, 7]);
    expect(r.creditedNotBilled.map((c: any) => c.channelId)).toEqual([channel.unbilled, channel.nextDay]);
  });

  it('refuses a statement it cannot read, naming the line', async () => {
    const bad = path.join(dir, 'bad.csv');
    writeFileSync(bad, 'start,caller,called,billed_seconds\n2026-10-05 10:00:00,0611111111,0899500001,30\n05/10/2026 10:00,0611111111,0899500001,30\n');
    const res = await runSanscode(t.url, ['reconcile', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^sanscode reconcile: line 3: start "05\/10\/2026 10:00" is not a time/);
  });
});
