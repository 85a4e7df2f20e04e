// Status reads made together (db/ledger/purchases.ts readQueue, batch-queue.ts), on a real
// PostgreSQL: reads that arrive at once are answered as one by one, and a merchant never gets
// another merchant's purchase, even when both are read in the same statement.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchase, getPurchase } from '../../db/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { requestsRunTogether } from '../support/batch-metric.js';
import { provision } from '../support/fixtures.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.drop();
});

const readsTogether = () => requestsRunTogether('purchase_read');

describe('status reads at once', () => {
  it('answer each as alone: its own purchase, or nothing for another merchant’s or a missing one', async () => {
    const a = await provision(t.db, { numbers: ['+33899100001'] }, 'A');
    const b = await provision(t.db, { numbers: ['+33899100002'] }, 'B');
    const mine = async (shop: typeof a, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => createPurchase(t.db, shop.merchant.id, { offerId: shop.offer.id, callerNumber: `+3361000${shop === a ? 1 : 2}${String(i).padStart(3, '0')}` })));
    const [ofA, ofB] = [await mine(a, 5), await mine(b, 5)];
    const asks = [
      ...ofA.map((p) => ({ merchantId: a.merchant.id, id: p.id, expect: p.id })),
      ...ofB.map((p) => ({ merchantId: b.merchant.id, id: p.id, expect: p.id })),
      // Another merchant's purchase is read exactly like a missing one.
      ...ofB.map((p) => ({ merchantId: a.merchant.id, id: p.id, expect: null })),
      ...ofA.map((p) => ({ merchantId: b.merchant.id, id: p.id, expect: null })),
      { merchantId: a.merchant.id, id: randomUUID(), expect: null },
    ];
    const before = await readsTogether();
    const rounds = await Promise.all(Array.from({ length: 4 }, () => Promise.all(asks.map((q) => getPurchase(t.db, q.merchantId, q.id)))));
    for (const answers of rounds) {
      answers.forEach((got, i) => expect(got?.id ?? null).toBe(asks[i]!.expect));
      // And each answer is the purchase as a lone read gives it.
      for (const [i, got] of answers.entries()) if (got) expect(got).toEqual(await getPurchase(t.db, asks[i]!.merchantId, asks[i]!.id));
    }
    expect(await readsTogether()).toBeGreaterThan(before);
  });
});
