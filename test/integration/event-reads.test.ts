// Event-log reads made together (db/ledger/events.ts eventsQueue, batch-queue.ts), on a real
// PostgreSQL: what a live feed reads is the same whether its read went alone or shared one
// statement with other purchases' (each its own events, from its own position, its own page).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchase, eventsSince } from '../../db/ledger/index.js';
import { simulateCall } from '../support/calls.js';
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

const readsTogether = () => requestsRunTogether('event_read');

describe('event-log reads at once', () => {
  it('give each purchase its own events after its own position, a page at most, as a lone read does', async () => {
    const shop = await provision(t.db, { numbers: ['+33899200001'], callsRequired: 5 });
    const callers = ['+33610200001', '+33610200002', '+33610200003'];
    const purchases = [];
    for (const callerNumber of callers) purchases.push(await createPurchase(t.db, shop.merchant.id, { offerId: shop.offer.id, callerNumber }));
    // Three calls counted for the first buyer, one for the second, none for the third.
    for (const caller of [callers[0]!, callers[0]!, callers[0]!, callers[1]!]) await simulateCall(t.db, { dialed: '+33899200001', caller });

    const alone = async (purchaseId: string, afterId: number, limit: number) => eventsSince(t.db, purchaseId, afterId, limit);
    const asks: [string, number, number][] = [];
    for (const p of purchases) {
      const all = await alone(p.id, 0, 500);
      const positions = [0, all[0]?.id ?? 0, all.at(-1)?.id ?? 0];
      for (const after of positions) for (const limit of [1, 2, 500]) asks.push([p.id, after, limit]);
    }
    asks.push([randomUUID(), 0, 500]);
    const expected = [];
    for (const [id, after, limit] of asks) expected.push(await alone(id, after, limit));
    // Worth comparing: pages cut short, several events, empty answers.
    expect(expected.some((e) => e.length > 2)).toBe(true);
    expect(expected.some((e) => e.length === 0)).toBe(true);

    const before = await readsTogether();
    const rounds = await Promise.all(Array.from({ length: 4 }, () => Promise.all(asks.map(([id, after, limit]) => eventsSince(t.db, id, after, limit)))));
    for (const got of rounds) expect(got).toEqual(expected);
    expect(await readsTogether()).toBeGreaterThan(before);
  });
});
