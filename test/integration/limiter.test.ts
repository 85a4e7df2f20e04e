// The failure limiter slows down whoever presents wrong credentials, and nobody else: a valid
// key passes whatever its address did, unknown admin routes are not failures, and behind a
// reverse proxy (TRUST_PROXY) each client is counted on its own address.
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type ApiOptions } from '../../api/app.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

const NO_PURCHASE = '/v1/purchases/00000000-0000-4000-8000-000000000000';
let t: TestDatabase;
let merchant: { id: string; apiKey: string };
let offerId: string;
const servers: Http[] = [];

async function api(opts: Partial<ApiOptions> = {}): Promise<Http> {
  const http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', ...opts }));
  servers.push(http);
  return http;
}

beforeAll(async () => {
  t = await createTestDatabase();
  const http = await api();
  merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Limiter' } })).body;
  offerId = (
    await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899500001'], purchaseTtlSeconds: 600, language: 'fr' },
    })
  ).body.id;
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await t?.drop();
});

describe('unknown admin routes', () => {
  it('answer 404 to the operator and never count as failures, even 40 times', async () => {
    const http = await api({ authFailuresPerMinute: 30 });
    for (let i = 0; i < 40; i++) {
      const res = await http.request(i % 2 ? 'DELETE' : 'GET', `/v1/admin/nothing-${i}`, { token: ADMIN });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await http.request('GET', '/v1/admin/calls', { token: ADMIN })).status).toBe(200);
  });

  it('serves what the Location of a new merchant points to, and the list of merchants, never a key', async () => {
    const http = await api({ authFailuresPerMinute: 30 });
    const created = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Located' } });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    const one = await http.request('GET', location, { token: ADMIN });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ id: created.body.id, name: 'Located', allowedOrigins: [], webhookUrl: null, createdAt: expect.any(String) });
    const list = await http.request('GET', '/v1/admin/merchants', { token: ADMIN });
    expect(list.status).toBe(200);
    expect(list.body.merchants[0]).toEqual(one.body);
    expect(list.body.merchants.map((m: { id: string }) => m.id)).toContain(merchant.id);
    expect(JSON.stringify(list.body)).not.toMatch(/sk_|apiKey|Hash/);
    expect((await http.request('GET', '/v1/admin/merchants?limit=1', { token: ADMIN })).body.merchants).toHaveLength(1);
    expect((await http.request('GET', '/v1/admin/merchants?limit=0', { token: ADMIN })).status).toBe(400);
    expect((await http.request('GET', '/v1/admin/merchants/00000000-0000-4000-8000-000000000000', { token: ADMIN })).status).toBe(404);
    expect((await http.request('GET', '/v1/admin/merchants/nope', { token: ADMIN })).status).toBe(404);
    expect((await http.request('GET', location, { token: merchant.apiKey })).status).toBe(401);
  });
});

describe('valid credentials', () => {
  it('pass from an address locked out by failures, which keep answering 429', async () => {
    const http = await api({ authFailuresPerMinute: 3 });
    const purchase = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0655000001' } })).body;
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await http.request('GET', NO_PURCHASE, { token: `sk_guess${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const locked = await http.request('GET', NO_PURCHASE, { token: 'sk_guess-again' });
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);

    // Same address, valid credentials of every kind: served.
    expect((await http.request('GET', `/v1/purchases/${purchase.id}`, { token: merchant.apiKey })).status).toBe(200);
    expect((await http.request('GET', '/v1/admin/calls', { token: ADMIN })).status).toBe(200);
    expect((await http.request('GET', `/v1/client/purchase?token=${purchase.clientToken}`)).status).toBe(200);
    // Wrong ones of every kind: still throttled.
    expect((await http.request('GET', '/v1/admin/calls', { token: 'wrong-admin-token' })).status).toBe(429);
    expect((await http.request('GET', `/v1/client/purchase?token=${purchase.clientToken}x`)).status).toBe(429);
  });

  it('are remembered for the cache TTL at most, then checked in the database again', async () => {
    const remembering = await api(); // default TTL, 60 s
    const forgetting = await api({ keyCacheTtlMs: 300 });
    const other = (await remembering.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Rotated' } })).body;
    expect((await remembering.request('GET', '/v1/allowed-origins', { token: other.apiKey })).status).toBe(200);
    expect((await forgetting.request('GET', '/v1/allowed-origins', { token: other.apiKey })).status).toBe(200);
    // The key is replaced behind the API's back (as a rotation or a removal would do).
    await t.db.execute(sql`update merchants set api_key_hash = md5(random()::text) where id = ${other.id}`);
    expect((await remembering.request('GET', '/v1/allowed-origins', { token: other.apiKey })).status).toBe(200);
    let status = 200;
    await waitFor(
      () => `the forgetting API to refuse the replaced key (last status ${status})`,
      async () => (status = (await forgetting.request('GET', '/v1/allowed-origins', { token: other.apiKey })).status) !== 200,
    );
    expect(status).toBe(401);
  });
});

describe('behind a reverse proxy', () => {
  const guess = (http: Http, client: string) => http.request('GET', NO_PURCHASE, { token: 'sk_guess', headers: { 'x-forwarded-for': client } });

  it('with TRUST_PROXY, counts failures per client address from X-Forwarded-For', async () => {
    const http = await api({ authFailuresPerMinute: 2, trustProxy: 'loopback' });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await guess(http, '203.0.113.7')).status);
    expect(statuses).toEqual([401, 401, 429]);
    expect((await guess(http, '198.51.100.9')).status).toBe(401); // another client behind the same proxy
  });

  it('without it, ignores X-Forwarded-For (a client cannot pick its own address)', async () => {
    const http = await api({ authFailuresPerMinute: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await guess(http, `203.0.113.${i}`)).status);
    expect(statuses).toEqual([401, 401, 429]);
  });
});
