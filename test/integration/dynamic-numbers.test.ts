// Dynamic numbers against a real PostgreSQL: lending under contention (one and two API
// processes), quarantine, expiry without a sweeper, extension, pool view, call admission.
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { startApiProcess } from '../support/api-process.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

let t: TestDatabase;
let http: Http;
let merchant: { id: string; apiKey: string };

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR' }));
  merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Annonces' } })).body;
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let block = 0;
/** A pool of `size` fresh premium numbers (+33 8 99 BB NN NN). */
function poolNumbers(size: number): string[] {
  block += 1;
  return Array.from({ length: size }, (_, i) => `+338992${String(block).padStart(1, '0')}${String(i).padStart(4, '0')}`);
}

async function dynamicOffer(numbers: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await http.request('POST', '/v1/admin/offers', {
    token: ADMIN,
    body: { merchantId: merchant.id, name: 'Contact', mode: 'dynamic_number', callsRequired: 2, minCallSeconds: 5, numbers, holdSeconds: 300, quarantineSeconds: 120, language: 'fr', ...extra },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

const lend = (base: string, offerId: string) =>
  fetch(`${base}/v1/purchases`, {
    method: 'POST',
    headers: { authorization: `Bearer ${merchant.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ offerId }),
  }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.json() }));

function expectFairLending(results: Awaited<ReturnType<typeof lend>>[], numbers: string[]) {
  const lent = results.filter((r) => r.status === 201);
  expect(lent).toHaveLength(numbers.length);
  expect(new Set(lent.map((r) => r.body.numberToCall)).size).toBe(numbers.length);
  expect(lent.every((r) => numbers.includes(r.body.numberToCall))).toBe(true);
  const refused = results.filter((r) => r.status !== 201);
  expect(refused.filter((r) => !(r.status === 503 && Number(r.retryAfter) > 0))).toEqual([]);
  expect(refused.length).toBe(results.length - numbers.length);
}

describe('lending', () => {
  it('lends a number for the hold and shows it in the pool', async () => {
    const numbers = poolNumbers(3);
    const offerId = await dynamicOffer(numbers);
    const p = await lend(http.base, offerId);
    expect(p.status).toBe(201);
    expect(p.body).toMatchObject({ mode: 'dynamic_number', status: 'pending', callerNumber: null, callsRequired: 2 });
    expect(numbers).toContain(p.body.numberToCall);
    expect(new Date(p.body.expiresAt).getTime() - new Date(p.body.createdAt).getTime()).toBe(300_000);
    const pool = await http.request('GET', `/v1/admin/offers/${offerId}/pool`, { token: ADMIN });
    expect(pool.body).toMatchObject({ free: 2, lent: 1, resting: 0 });
    expect(pool.body.numbers.find((n: { number: string }) => n.number === p.body.numberToCall)).toEqual({
      number: p.body.numberToCall,
      state: 'lent',
      until: p.body.expiresAt,
      purchaseId: p.body.id,
    });
  });

  it('gives 200 simultaneous visitors exactly the 50 numbers of the pool, the rest 503 + Retry-After', async () => {
    const numbers = poolNumbers(50);
    const offerId = await dynamicOffer(numbers);
    const results = await Promise.all(Array.from({ length: 200 }, () => lend(http.base, offerId)));
    expectFairLending(results, numbers);
    const rows = (await t.db.execute(sql`select count(*)::int as n, count(distinct number)::int as d from number_lendings where offer_id = ${offerId}`)) as unknown as { n: number; d: number }[];
    expect(rows[0]).toEqual({ n: 50, d: 50 });
  });

  it('holds the same with two API processes sharing the database', async () => {
    const numbers = poolNumbers(50);
    const offerId = await dynamicOffer(numbers);
    const started = await Promise.allSettled([startApiProcess(t.url, ADMIN), startApiProcess(t.url, ADMIN)]);
    try {
      const [a, b] = started.map((p) => {
        if (p.status === 'rejected') throw p.reason;
        return p.value;
      });
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => lend(i % 2 ? a!.base : b!.base, offerId)));
      expectFairLending(results, numbers);
    } finally {
      await Promise.all(started.map((p) => p.status === 'fulfilled' && p.value.stop()));
    }
  }, 120_000); // each process may take up to a minute to start on a loaded machine

  it('rests a released number for the quarantine, then lends it again', async () => {
    const [number] = poolNumbers(1);
    const offerId = await dynamicOffer([number!], { quarantineSeconds: 2 });
    const first = await lend(http.base, offerId);
    const cancelled = await http.request('POST', `/v1/purchases/${first.body.id}/cancel`, { token: merchant.apiKey });
    expect(cancelled.body.status).toBe('cancelled');
    const pool = await http.request('GET', `/v1/admin/offers/${offerId}/pool`, { token: ADMIN });
    expect(pool.body.numbers[0]).toMatchObject({ state: 'resting', purchaseId: null });
    const during = await lend(http.base, offerId);
    expect(during.status).toBe(503);
    expect(Number(during.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(during.retryAfter)).toBeLessThanOrEqual(2);
    const state = async () => (await http.request('GET', `/v1/admin/offers/${offerId}/pool`, { token: ADMIN })).body.numbers[0].state;
    await waitFor('the number to leave its quarantine', async () => (await state()) === 'free', 10_000);
    const after = await lend(http.base, offerId);
    expect(after.status).toBe(201);
    expect(after.body.numberToCall).toBe(number);
  });

  it('ends a lending at the end of its hold without any sweeper', async () => {
    const [number] = poolNumbers(1);
    const offerId = await dynamicOffer([number!], { quarantineSeconds: 60 });
    const p = await lend(http.base, offerId);
    // Time passes: the hold ended a second ago (the lending row itself is not touched).
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${p.body.id}`);
    await t.db.execute(sql`update number_lendings set lent_at = now() - interval '300 seconds', hold_until = now() - interval '1 second', rest_until = now() + interval '59 seconds' where purchase_id = ${p.body.id}`);
    expect((await http.request('GET', `/v1/purchases/${p.body.id}`, { token: merchant.apiKey })).body.status).toBe('expired');
    const pool = await http.request('GET', `/v1/admin/offers/${offerId}/pool`, { token: ADMIN });
    expect(pool.body.numbers[0]).toMatchObject({ state: 'resting' });
    const next = await lend(http.base, offerId);
    expect(next.status).toBe(503);
    expect(Number(next.retryAfter)).toBeGreaterThan(50);
  });

  it('extends a hold up to the offer maximum', async () => {
    const offerId = await dynamicOffer(poolNumbers(1), { holdSeconds: 60, maxHoldSeconds: 90 });
    const p = await lend(http.base, offerId);
    await t.db.execute(sql`update purchases set expires_at = expires_at - interval '40 seconds' where id = ${p.body.id}`);
    await t.db.execute(sql`update number_lendings set lent_at = lent_at - interval '40 seconds', hold_until = hold_until - interval '40 seconds', rest_until = rest_until - interval '40 seconds' where purchase_id = ${p.body.id}`);
    const extended = await http.request('POST', `/v1/purchases/${p.body.id}/extend`, { token: merchant.apiKey });
    expect(extended.status).toBe(200);
    // Lent 40 s ago with a 90 s maximum: the hold now ends 50 s from now, not 60.
    const left = new Date(extended.body.expiresAt).getTime() - Date.now();
    expect(left).toBeGreaterThan(45_000);
    expect(left).toBeLessThan(52_000);
    const again = await http.request('POST', `/v1/purchases/${p.body.id}/extend`, { token: merchant.apiKey });
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('urn:sanscode:problem:hold-at-maximum');
  });

  it('refuses to put a number in two pools, or in a pool and a caller-ID offer', async () => {
    const numbers = poolNumbers(2);
    await dynamicOffer(numbers);
    const again = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'x', mode: 'caller_id', callsRequired: 1, minCallSeconds: 5, numbers: [numbers[1]], purchaseTtlSeconds: 60, language: 'fr' },
    });
    expect(again.status).toBe(409);
    expect(again.body.numbers).toEqual([numbers[1]]);
  });

  it('validates dynamic offers field by field', async () => {
    const res = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'x', mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 5, numbers: ['0899000000'], purchaseTtlSeconds: 60, language: 'fr' },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['holdSeconds', 'purchaseTtlSeconds']);
  });
});

describe('calls on pool numbers', () => {
  const admit = (dialed: string, caller: string | null) => simulateCall(t.db, { dialed, caller, answer: false });

  it('answers any caller, even withheld, on a lent number, and nobody on a free or resting one', async () => {
    const [lentNumber, freeNumber] = poolNumbers(2);
    const offerId = await dynamicOffer([lentNumber!, freeNumber!]);
    const p = await lend(http.base, offerId);
    expect(p.body.numberToCall).toBe(lentNumber);
    expect((await admit(lentNumber!, null)).admission).toMatchObject({ action: 'answer', purchaseId: p.body.id, callsRemaining: 2 });
    expect((await admit(freeNumber!, '+33612345678')).admission).toMatchObject({ action: 'reject', outcome: 'number_not_lent' });
    await http.request('POST', `/v1/purchases/${p.body.id}/cancel`, { token: merchant.apiKey });
    expect((await admit(lentNumber!, null)).admission).toMatchObject({ action: 'reject', outcome: 'number_not_lent' });
  });
});
