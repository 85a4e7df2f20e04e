// The public HTTP contract, against a real PostgreSQL: happy path, isolation, every error.
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { admitCall } from '../../db/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';
let t: TestDatabase;
let http: Http;
let merchant: { id: string; apiKey: string };
let offerId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000 }));
  merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Le Journal' } })).body;
  offerId = (
    await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 3, minCallSeconds: 20, numbers: ['08 99 12 34 56'], purchaseTtlSeconds: 900, language: 'fr' },
    })
  ).body.id;
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

/** Counts rows so a test can prove that a refused request changed nothing. */
async function rowCounts() {
  const rows = (await t.db.execute(
    sql`select (select count(*) from merchants)::int as m, (select count(*) from offers)::int as o, (select count(*) from purchases)::int as p`,
  )) as unknown as { m: number; o: number; p: number }[];
  return rows[0];
}

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.stringMatching(/^urn:sanscode:problem:/), title: expect.any(String), detail: expect.any(String) });
}

describe('admin API', () => {
  it('creates a merchant and shows its key once, storing only a hash', async () => {
    const res = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Petites Annonces' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), name: 'Petites Annonces', apiKey: expect.stringMatching(/^sk_/) });
    const stored = (await t.db.execute(sql`select api_key_hash from merchants where id = ${res.body.id}`)) as unknown as { api_key_hash: string }[];
    expect(stored[0]!.api_key_hash).not.toContain(res.body.apiKey);
    expect(stored[0]!.api_key_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('creates an offer with numbers in E.164', async () => {
    const res = await http.request('GET', `/v1/admin/offers/${offerId}`, { token: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: offerId, mode: 'caller_id', callsRequired: 3, minCallSeconds: 20, numbers: ['+33899123456'], purchaseTtlSeconds: 900, language: 'fr' });
  });

  it.each([
    ['no token', undefined, 401],
    ['a wrong token', 'nope', 401],
    ['a merchant key', 'MERCHANT', 401],
  ])('refuses %s', async (_n, token, status) => {
    const res = await http.request('POST', '/v1/admin/merchants', { token: token === 'MERCHANT' ? merchant.apiKey : token, body: { name: 'x' } });
    expectProblem(res, status);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('lists every invalid offer field, and stores nothing', async () => {
    const before = await rowCounts();
    const res = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: 'nope', name: '', mode: 'ticket', callsRequired: 0, minCallSeconds: -1, numbers: [], purchaseTtlSeconds: 1, language: 'de' },
    });
    expectProblem(res, 400);
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(
      ['callsRequired', 'language', 'merchantId', 'minCallSeconds', 'mode', 'name', 'numbers', 'purchaseTtlSeconds'].sort(),
    );
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses an unusable premium number with 422 and an unknown merchant with 422', async () => {
    const body = { merchantId: merchant.id, name: 'x', mode: 'caller_id', callsRequired: 1, minCallSeconds: 5, numbers: ['0899123456', '12'], purchaseTtlSeconds: 60, language: 'en' };
    const before = await rowCounts();
    expectProblem(await http.request('POST', '/v1/admin/offers', { token: ADMIN, body }), 422);
    const unknown = await http.request('POST', '/v1/admin/offers', { token: ADMIN, body: { ...body, numbers: ['0899123456'], merchantId: '00000000-0000-4000-8000-000000000000' } });
    expectProblem(unknown, 422);
    expect(await rowCounts()).toEqual(before);
  });
});

describe('number settings', () => {
  it('sets and clears the price announcement of a number, in E.164', async () => {
    const set = await http.request('PUT', '/v1/admin/numbers/0899123456', { token: ADMIN, body: { priceAnnouncement: 'sanscode/price-2-99' } });
    expect(set.body).toEqual({ number: '+33899123456', priceAnnouncement: 'sanscode/price-2-99' });
    const cleared = await http.request('PUT', '/v1/admin/numbers/+33899123456', { token: ADMIN, body: { priceAnnouncement: null } });
    expect(cleared.body).toEqual({ number: '+33899123456', priceAnnouncement: null });
    expectProblem(await http.request('PUT', '/v1/admin/numbers/0899123456', { token: ADMIN, body: { priceAnnouncement: '../../etc/passwd' } }), 400);
    expectProblem(await http.request('PUT', '/v1/admin/numbers/12', { token: ADMIN, body: { priceAnnouncement: null } }), 422);
  });
});

describe('call record', () => {
  it('lists calls for the operator, filtered by outcome and number', async () => {
    const facts = { channelId: 'audit-1', asteriskId: null, dialedRaw: '0899123456', dialed: '+33899123456', callerRaw: 'anonymous', caller: null };
    await admitCall(t.db, facts, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    const res = await http.request('GET', '/v1/admin/calls?outcome=anonymous&dialed=0899123456', { token: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body.calls).toEqual([expect.objectContaining({ channelId: 'audit-1', outcome: 'anonymous', dialedNumber: '+33899123456', answeredAt: null })]);
    expectProblem(await http.request('GET', '/v1/admin/calls?outcome=whatever', { token: ADMIN }), 400);
    expectProblem(await http.request('GET', '/v1/admin/calls', { token: merchant.apiKey }), 401);
  });
});

describe('merchant API', () => {
  it('creates and reads a purchase', async () => {
    const created = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '06 12 34 56 78', reference: 'art-42' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/purchases/${created.body.id}`);
    expect(created.body).toEqual({
      id: expect.any(String),
      offerId,
      mode: 'caller_id',
      status: 'pending',
      reference: 'art-42',
      callerNumber: '+33612345678',
      numberToCall: '+33899123456',
      callsRequired: 3,
      callsCounted: 0,
      callsRemaining: 3,
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      completedAt: null,
      clientToken: expect.stringMatching(/^ct_/),
    });
    const read = await http.request('GET', `/v1/purchases/${created.body.id}`, { token: merchant.apiKey });
    expect(read.status).toBe(200);
    const { clientToken: _token, ...purchase } = created.body;
    expect(read.body).toEqual(purchase);

    // Same buyer typed differently: same caller, so 409 pointing at the pending purchase.
    const again = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '+33612345678' } });
    expectProblem(again, 409);
    expect(again.body.pendingPurchaseId).toBe(created.body.id);

    // Cancel frees the caller for a new purchase.
    const cancelled = await http.request('POST', `/v1/purchases/${created.body.id}/cancel`, { token: merchant.apiKey });
    expect(cancelled.body.status).toBe('cancelled');
    expectProblem(await http.request('POST', `/v1/purchases/${created.body.id}/cancel`, { token: merchant.apiKey }), 409);
    expect((await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0612345678' } })).status).toBe(201);
  });

  it("answers 404 for another merchant's purchase and offer", async () => {
    const other = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Other' } })).body;
    const mine = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0611111111' } });
    expectProblem(await http.request('GET', `/v1/purchases/${mine.body.id}`, { token: other.apiKey }), 404);
    expectProblem(await http.request('POST', `/v1/purchases/${mine.body.id}/cancel`, { token: other.apiKey }), 404);
    expectProblem(await http.request('POST', '/v1/purchases', { token: other.apiKey, body: { offerId, callerNumber: '0622222222' } }), 404);
  });

  it.each([
    ['malformed JSON', { raw: '{"offerId": ' }, 400],
    ['a JSON array', { body: [1, 2] }, 400],
    ['missing fields', { body: {} }, 400],
    ['an unknown field', { body: { offerId: '00000000-0000-4000-8000-000000000000', callerNumber: '0612345678', price: 1 } }, 400],
    ['a malformed offer id', { body: { offerId: 'abc', callerNumber: '0612345678' } }, 400],
    ['an unusable phone number', { body: { offerId: 'OFFER', callerNumber: '12345' } }, 422],
    ['letters as phone number', { body: { offerId: 'OFFER', callerNumber: 'call me' } }, 422],
    ['an unknown offer', { body: { offerId: '00000000-0000-4000-8000-000000000000', callerNumber: '0612345678' } }, 404],
    ['a body over the limit', { raw: JSON.stringify({ offerId: 'x', callerNumber: '0612345678', reference: 'x'.repeat(20_000) }) }, 413],
  ])('refuses %s without storing anything', async (_n, opts, status) => {
    const before = await rowCounts();
    const o = 'body' in opts && opts.body && !Array.isArray(opts.body) && (opts.body as any).offerId === 'OFFER' ? { body: { ...(opts.body as object), offerId } } : opts;
    const res = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, ...o });
    expectProblem(res, status);
    if (status === 400 && !('raw' in opts)) expect(res.body.errors.length).toBeGreaterThan(0);
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ['no key', undefined],
    ['a wrong key', 'sk_wrong'],
    ['a malformed header', 'two words'],
  ])('refuses %s with 401', async (_n, token) => {
    expectProblem(await http.request('GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', { token }), 401);
  });

  it('answers 404 for unknown ids and routes', async () => {
    expectProblem(await http.request('GET', '/v1/purchases/not-a-uuid', { token: merchant.apiKey }), 404);
    expectProblem(await http.request('GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', { token: merchant.apiKey }), 404);
    expectProblem(await http.request('GET', '/v2/nothing'), 404);
  });
});

describe('guessing', () => {
  it('rate-limits failed authentications per client', async () => {
    const limited = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 3 }));
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.request('GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', { token: `sk_guess${i}` })).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const ok = await limited.request('GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', { token: merchant.apiKey });
      expect(ok.status).toBe(429); // the address is blocked for the window, even with a good key
    } finally {
      await limited.close();
    }
  });
});
