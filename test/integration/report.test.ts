// The revenue report over a period: calls, answered minutes and completed purchases per
// merchant, offer and number, through the ledger and `sanscode report`.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMerchant, createOffer, createPurchase, revenueReport } from '../../db/ledger/index.js';
import { runSanscode } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { recordCall } from '../support/recorded-calls.js';

const SHARED = '+33899600001'; // sold by Shop's Article and News's Edition
const CONTACT = '+33899600002'; // Shop's Contact only
let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
  const shop = await createMerchant(t.db, 'Shop');
  const news = await createMerchant(t.db, 'News');
  const offer = (merchantId: string, name: string, number: string, callsRequired: number) =>
    createOffer(t.db, { merchantId, name, mode: 'caller_id', callsRequired, minCallSeconds: 0, numbers: [number], purchaseTtlSeconds: 600, language: 'fr' });
  const article = await offer(shop.id, 'Article', SHARED, 2);
  const contact = await offer(shop.id, 'Contact', CONTACT, 1);
  const edition = await offer(news.id, 'Edition', SHARED, 1);
  const completedAt = async (purchaseId: string, at: string) => {
    await t.db.execute(sql`update purchases set completed_at = ${at}::timestamptz where id = ${purchaseId}`);
  };

  const bought = await createPurchase(t.db, shop.id, { offerId: article.id, callerNumber: '+33611111111' });
  await recordCall(t.db, 'counted', SHARED, '+33611111111', new Date('2026-10-03T09:00:00Z'), 60);
  await recordCall(t.db, 'counted', SHARED, '+33611111111', new Date('2026-10-03T09:05:00Z'), 90);
  await completedAt(bought.id, '2026-10-03T09:06:32Z');

  await createPurchase(t.db, shop.id, { offerId: contact.id, callerNumber: '+33622222222' });
  await recordCall(t.db, 'lost', CONTACT, '+33622222222', new Date('2026-10-10T12:00:00Z'), 20);
  await recordCall(t.db, 'refused', CONTACT, '+33633333333', new Date('2026-10-10T12:01:00Z'), 0);
  await recordCall(t.db, 'refused', SHARED, '+33633333333', new Date('2026-10-10T12:02:00Z'), 0);

  const edited = await createPurchase(t.db, news.id, { offerId: edition.id, callerNumber: '+33644444444' });
  await recordCall(t.db, 'counted', SHARED, '+33644444444', new Date('2026-10-31T23:59:00Z'), 30);
  await completedAt(edited.id, '2026-10-31T23:59:32Z');

  // November: outside the period.
  const later = await createPurchase(t.db, shop.id, { offerId: contact.id, callerNumber: '+33655555555' });
  await recordCall(t.db, 'counted', CONTACT, '+33655555555', new Date('2026-11-01T00:00:00Z'), 40);
  await completedAt(later.id, '2026-11-01T00:00:42Z');
});
afterAll(async () => {
  await t?.drop();
});

const figures = (calls: number, answeredCalls: number, countedCalls: number, answeredSeconds: number, completedPurchases: number) => ({
  calls,
  answeredCalls,
  countedCalls,
  answeredSeconds,
  completedPurchases,
});

// Each run is a Node process compiling TypeScript: seconds each on a busy 2-core machine.
describe('revenue report', { timeout: 180_000 }, () => {
  it('sums October per merchant, offer and number; a refusal on a shared number belongs to no offer', async () => {
    const report = await revenueReport(t.db, { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-11-01T00:00:00Z') });
    expect(report.rows).toMatchObject([
      { merchantName: 'News', offerName: 'Edition', number: SHARED, ...figures(1, 1, 1, 30, 1) },
      { merchantName: 'Shop', offerName: 'Article', number: SHARED, ...figures(2, 2, 2, 150, 1) },
      { merchantName: 'Shop', offerName: 'Contact', number: CONTACT, ...figures(2, 1, 0, 20, 0) },
      { merchantId: null, offerId: null, number: SHARED, ...figures(1, 0, 0, 0, 0) },
    ]);
    expect(report.perMerchant).toMatchObject([
      { merchantName: 'News', ...figures(1, 1, 1, 30, 1) },
      { merchantName: 'Shop', ...figures(4, 3, 2, 170, 1) },
      { merchantName: null, ...figures(1, 0, 0, 0, 0) },
    ]);
    expect(report.total).toEqual(figures(6, 4, 3, 200, 2));
  });

  it('is what `sanscode report` prints, as JSON and as tables in minutes', async () => {
    const [json, text] = await Promise.all([
      runSanscode(t.url, ['report', '--from', '2026-10-01', '--to', '2026-11-01', '--json']),
      runSanscode(t.url, ['report', '--from', '2026-10-01 02:00:00+02:00', '--to', '2026-11-01']),
    ]);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(json.json()).toEqual(JSON.parse(JSON.stringify(await revenueReport(t.db, { from: new Date('2026-10-01T00:00:00Z'), to: new Date('2026-11-01T00:00:00Z') }))));
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe('From 2026-10-01T00:00:00.000Z to 2026-11-01T00:00:00.000Z (exclusive)');
    expect(lines).toContainEqual(expect.stringMatching(/^Shop\s+Article\s+\+33899600001\s+2\s+2\s+2\s+2\.5\s+1$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\(no offer\)\s+\(no offer\)\s+\+33899600001\s+1\s+0\s+0\s+0\s+0$/));
    expect(lines).toContainEqual(expect.stringMatching(/^TOTAL\s+6\s+4\s+3\s+3\.3\s+2$/));
  });

  it('refuses a period that ends before it starts', async () => {
    const res = await runSanscode(t.url, ['report', '--from', '2026-11-01', '--to', '2026-10-01']);
    expect(res).toMatchObject({ code: 2, stdout: '' });
    expect(res.stderr).toMatch(/^sanscode report: --to must be after --from/);
  });
});
