// Races that only a real PostgreSQL shows (PGlite runs one transaction at a time): many
// requests at once on one hold, one caller, one small pool. Each answer must be the one the
// same request would get alone, after the others: no spurious refusal, nothing left out of a
// refusal, no made-up Retry-After. Each race runs several rounds, since one clean round of a
// race proves little.
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';

const ROUNDS = 3;
let t: TestDatabase;
let http: Http;
let shop: { id: string; apiKey: string };
let rival: { id: string; apiKey: string };

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR' }));
  shop = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Shop' } })).body;
  rival = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Rival' } })).body;
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let serial = 0;
/** Fresh premium numbers for each offer: +33 8 99 3S SS NN. */
function numbers(count: number): string[] {
  serial += 1;
  return Array.from({ length: count }, (_, i) => `+338993${String(serial).padStart(3, '0')}${String(i).padStart(2, '0')}`);
}

async function offer(merchantId: string, body: Record<string, unknown>): Promise<string> {
  const res = await http.request('POST', '/v1/admin/offers', {
    token: ADMIN,
    body: { merchantId, name: 'Article', callsRequired: 1, minCallSeconds: 0, language: 'fr', ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

/** Fires all requests at once (one connection each) and returns every answer. */
function together<T>(count: number, request: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => request(i)));
}

const post = (path: string, key: string, body?: unknown) =>
  fetch(`${http.base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.json() }));

describe('parallel /extend on one hold', () => {
  it('extends every time from the latest committed hold, never refusing below the maximum', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const offerId = await offer(shop.id, { mode: 'dynamic_number', numbers: numbers(1), holdSeconds: 60, maxHoldSeconds: 3600, quarantineSeconds: 0 });
      const lent = await post('/v1/purchases', shop.apiKey, { offerId });
      expect(lent.status).toBe(201);
      const extended = await together(10, () => post(`/v1/purchases/${lent.body.id}/extend`, shop.apiKey));
      expect(extended.map((r) => r.status)).toEqual(Array(10).fill(200));
      // In commit order (event ids), each extension ends the hold later than the one before.
      const events = (await t.db.execute(
        sql`select (data->'purchase'->>'expiresAt') as "expiresAt" from purchase_events where purchase_id = ${lent.body.id} and type = 'extended' order by id`,
      )) as unknown as { expiresAt: string }[];
      const ends = events.map((e) => new Date(e.expiresAt).getTime());
      expect(ends).toHaveLength(10);
      expect(ends[0]).toBeGreaterThan(new Date(lent.body.expiresAt).getTime());
      for (let i = 1; i < ends.length; i++) expect(ends[i]).toBeGreaterThanOrEqual(ends[i - 1]!);
      const last = Math.max(...extended.map((r) => new Date(r.body.expiresAt).getTime()));
      expect(last).toBe(ends.at(-1));
    }
  });

  it('still stops at the maximum under the same race', async () => {
    const offerId = await offer(shop.id, { mode: 'dynamic_number', numbers: numbers(1), holdSeconds: 60, maxHoldSeconds: 60, quarantineSeconds: 0 });
    const lent = await post('/v1/purchases', shop.apiKey, { offerId });
    const extended = await together(10, () => post(`/v1/purchases/${lent.body.id}/extend`, shop.apiKey));
    expect(extended.map((r) => [r.status, r.body.type])).toEqual(Array(10).fill([409, 'urn:sanscode:problem:hold-at-maximum']));
    expect(extended.every((r) => r.body.expiresAt === lent.body.expiresAt)).toBe(true);
  });
});

describe('parallel purchases for one caller', () => {
  it('gives one 201 and 29 × 409 that all point to the winning purchase', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const offerId = await offer(shop.id, { mode: 'caller_id', numbers: numbers(1), purchaseTtlSeconds: 600 });
      const callerNumber = `+3361234${String(round).padStart(4, '0')}`;
      const results = await together(30, () => post('/v1/purchases', shop.apiKey, { offerId, callerNumber }));
      const won = results.filter((r) => r.status === 201);
      expect(won).toHaveLength(1);
      const lost = results.filter((r) => r.status !== 201);
      expect(lost.map((r) => [r.status, r.body.type, r.body.pendingPurchaseId])).toEqual(
        Array(29).fill([409, 'urn:sanscode:problem:caller-has-pending-purchase', won[0]!.body.id]),
      );
    }
  });

  it('takes the next number of the offer when the race is lost on the first one', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const offerNumbers = numbers(3);
      const offerId = await offer(shop.id, { mode: 'caller_id', numbers: offerNumbers, purchaseTtlSeconds: 600 });
      const callerNumber = `+3361235${String(round).padStart(4, '0')}`;
      const results = await together(20, () => post('/v1/purchases', shop.apiKey, { offerId, callerNumber }));
      const won = results.filter((r) => r.status === 201);
      expect(won.map((r) => r.body.numberToCall).sort()).toEqual(offerNumbers);
      const lost = results.filter((r) => r.status !== 201);
      expect(lost).toHaveLength(17);
      for (const r of lost) {
        expect(r.status).toBe(409);
        expect(won.map((w) => w.body.id)).toContain(r.body.pendingPurchaseId);
      }
    }
  });

  it("lets each merchant have its own purchase and never points one to another's", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [number] = numbers(1);
      const offers = { [shop.id]: await offer(shop.id, { mode: 'caller_id', numbers: [number], purchaseTtlSeconds: 600 }), [rival.id]: await offer(rival.id, { mode: 'caller_id', numbers: [number], purchaseTtlSeconds: 600 }) };
      const callerNumber = `+3361236${String(round).padStart(4, '0')}`;
      const merchants = [shop, rival];
      const results = await together(30, async (i) => {
        const m = merchants[i % 2]!;
        return { merchant: m.id, ...(await post('/v1/purchases', m.apiKey, { offerId: offers[m.id], callerNumber })) };
      });
      // One winner per merchant: a pending purchase at the other merchant neither blocks nor shows.
      const won = results.filter((r) => r.status === 201);
      expect(won.map((r) => r.merchant).sort()).toEqual([shop.id, rival.id].sort());
      for (const r of results.filter((x) => x.status !== 201)) {
        expect(r.status).toBe(409);
        expect(r.body.pendingPurchaseId).toBe(won.find((w) => w.merchant === r.merchant)!.body.id);
      }
    }
  });
});

describe('a small pool under contention', () => {
  it('answers every refused visitor with the real wait in Retry-After', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const offerId = await offer(shop.id, { mode: 'dynamic_number', numbers: numbers(2), holdSeconds: 90, quarantineSeconds: 0 });
      const results = await together(30, () => post('/v1/purchases', shop.apiKey, { offerId }));
      expect(results.filter((r) => r.status === 201)).toHaveLength(2);
      const refused = results.filter((r) => r.status !== 201);
      expect(refused).toHaveLength(28);
      for (const r of refused) {
        expect(r.status).toBe(503);
        // The two holds end 90 s after they began, a moment ago.
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(85);
        expect(Number(r.retryAfter)).toBeLessThanOrEqual(90);
        expect(r.body.retryAfterSeconds).toBe(Number(r.retryAfter));
      }
    }
  });
});
