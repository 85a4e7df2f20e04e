// The public HTTP contract, against a real PostgreSQL: happy path, isolation, every error.
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { databaseFingerprint } from '../support/fingerprint.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let http: Http;
let merchant: { id: string; apiKey: string };
let offerId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000, listen: t.listen }));
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

/** Every unusable phone number is a 422 naming its field in `errors`, as README promises. */
function expectInvalidPhone(res: { status: number; headers: Headers; body: any }, field: string, count = 1) {
  expectProblem(res, 422);
  expect(res.body.type).toBe('urn:sanscode:problem:invalid-phone-number');
  expect(res.body.errors).toEqual(Array.from({ length: count }, () => ({ field, message: expect.stringMatching(/^not a valid phone number/) })));
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
    const body = { merchantId: merchant.id, name: 'x', mode: 'caller_id', callsRequired: 1, minCallSeconds: 5, numbers: ['0899123456', '12', 'call me'], purchaseTtlSeconds: 60, language: 'en' };
    const before = await rowCounts();
    expectInvalidPhone(await http.request('POST', '/v1/admin/offers', { token: ADMIN, body }), 'numbers', 2);
    const unknown = await http.request('POST', '/v1/admin/offers', { token: ADMIN, body: { ...body, numbers: ['0899123456'], merchantId: '00000000-0000-4000-8000-000000000000' } });
    expectProblem(unknown, 422);
    expect(await rowCounts()).toEqual(before);
  });
});

describe('number settings', () => {
  it('sets and clears the price announcement of a number, in E.164', async () => {
    const set = await http.request('PUT', '/v1/admin/numbers/0899123456', { token: ADMIN, body: { priceAnnouncement: 'sanscode/price-2-99' } });
    expect(set.body).toEqual({ number: '+33899123456', priceAnnouncement: 'sanscode/price-2-99', holdSound: null });
    const cleared = await http.request('PUT', '/v1/admin/numbers/+33899123456', { token: ADMIN, body: { priceAnnouncement: null } });
    expect(cleared.body).toEqual({ number: '+33899123456', priceAnnouncement: null, holdSound: null });
    expectProblem(await http.request('PUT', '/v1/admin/numbers/0899123456', { token: ADMIN, body: { priceAnnouncement: '../../etc/passwd' } }), 400);
    expectInvalidPhone(await http.request('PUT', '/v1/admin/numbers/12', { token: ADMIN, body: { priceAnnouncement: null } }), 'number');
  });

  it('sets the hold sound of per-second calls; a setting left out keeps its value', async () => {
    await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { priceAnnouncement: 'sanscode/price-0-80' } });
    const hold = await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { holdSound: 'sanscode/hold-music' } });
    expect(hold.status).toBe(200);
    expect(hold.body).toEqual({ number: '+33899123457', priceAnnouncement: 'sanscode/price-0-80', holdSound: 'sanscode/hold-music' });
    const silence = await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { holdSound: null } });
    expect(silence.body).toEqual({ number: '+33899123457', priceAnnouncement: 'sanscode/price-0-80', holdSound: null });
    // Nothing to set, a path, an extension: refused, nothing written.
    expectProblem(await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: {} }), 400);
    expectProblem(await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { holdSound: '/var/lib/asterisk/moh/x' } }), 400);
    expectProblem(await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { holdSound: 'sanscode/hold.wav' } }), 400);
    const after = await http.request('PUT', '/v1/admin/numbers/0899123457', { token: ADMIN, body: { priceAnnouncement: 'sanscode/price-0-80' } });
    expect(after.body).toMatchObject({ holdSound: null });
  });
});

describe('call record', () => {
  it('lists calls for the operator, filtered by outcome and number', async () => {
    await simulateCall(t.db, { channelId: 'audit-1', dialedRaw: '0899123456', dialed: '+33899123456', caller: null });
    const res = await http.request('GET', '/v1/admin/calls?outcome=anonymous&dialed=0899123456', { token: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body.calls).toEqual([expect.objectContaining({ channelId: 'audit-1', outcome: 'anonymous', dialedNumber: '+33899123456', answeredAt: null })]);
    expectProblem(await http.request('GET', '/v1/admin/calls?outcome=whatever', { token: ADMIN }), 400);
    expectInvalidPhone(await http.request('GET', '/v1/admin/calls?dialed=12', { token: ADMIN }), 'dialed');
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
      disputedAt: null,
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
    if (status === 422) expectInvalidPhone(res, 'callerNumber');
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

describe('client errors', () => {
  const offerBody = () => ({ merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899123999'], purchaseTtlSeconds: 60, language: 'fr' });
  const cases: [string, string, string, 'admin' | 'merchant', () => unknown][] = [
    ['merchant name', 'POST', '/v1/admin/merchants', 'admin', () => ({ name: 'Le\u0000Journal' })],
    ['offer name', 'POST', '/v1/admin/offers', 'admin', () => ({ ...offerBody(), name: 'Art\u0000icle' })],
    ['priceLine', 'POST', '/v1/admin/offers', 'admin', () => ({ ...offerBody(), priceLine: '2,99 \u0000€' })],
    ['premium number', 'POST', '/v1/admin/offers', 'admin', () => ({ ...offerBody(), numbers: ['0899\u0000123999'] })],
    ['reference', 'POST', '/v1/purchases', 'merchant', () => ({ offerId, callerNumber: '0612000001', reference: 'art\u000042' })],
    ['caller number', 'POST', '/v1/purchases', 'merchant', () => ({ offerId, callerNumber: '0612\u0000000001' })],
    ['webhook url', 'PUT', '/v1/webhook', 'merchant', () => ({ url: 'https://203.0.113.10/hook\u0000' })],
    ['allowed origin', 'PUT', '/v1/allowed-origins', 'merchant', () => ({ origins: ['https://shop\u0000.example'] })],
  ];

  it.each(cases)('refuse a NUL byte in the %s with 400, storing nothing', async (field, method, path, who, body) => {
    const before = await databaseFingerprint(t.db);
    const res = await http.request(method, path, { token: who === 'admin' ? ADMIN : merchant.apiKey, body: body() });
    expectProblem(res, 400);
    expect(res.body.errors.map((e: { message: string }) => e.message).join()).toMatch(/NUL/);
    expect(await databaseFingerprint(t.db), field).toEqual(before);
  });

  it.each([
    ['a high surrogate', '"Le \\uD800 Journal"'],
    ['a low surrogate', '"Le \\uDFFF Journal"'],
    ['a reversed pair', '"Le \\uDE00\\uD83D Journal"'],
  ])('refuse %s alone instead of storing U+FFFD', async (_n, name) => {
    const before = await databaseFingerprint(t.db);
    expectProblem(await http.request('POST', '/v1/admin/merchants', { token: ADMIN, raw: `{"name": ${name}}` }), 400);
    const reference = name.replace('Le', 'ref');
    expectProblem(await http.request('POST', '/v1/purchases', { token: merchant.apiKey, raw: `{"offerId": "${offerId}", "callerNumber": "0612000002", "reference": ${reference}}` }), 400);
    expect(await databaseFingerprint(t.db)).toEqual(before);
  });

  it('keep a valid surrogate pair exactly as sent', async () => {
    const res = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, raw: '{"name": "Le Journal \\uD83D\\uDCF0"}' });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe('Le Journal 📰');
  });

  it('refuse a body that is not UTF-8 with 400', async () => {
    const before = await databaseFingerprint(t.db);
    const body = Buffer.concat([Buffer.from('{"name": "Le '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(' Journal"}')]);
    const res = await fetch(`${http.base}/v1/admin/merchants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await databaseFingerprint(t.db)).toEqual(before);
  });

  it.each(['/v1/purchases/%ZZ', '/v1/purchases/%E0%A4%A', '/v1/purchases/%', '/v1/purchases/%ZZ/cancel', '/v1/admin/offers/%', '/v1/admin/numbers/%E0%A4%A', '/v1/client/%ZZ', '/%'])(
    'refuse the malformed percent-encoding of %s with 400, before authentication',
    async (path) => {
      const before = await databaseFingerprint(t.db);
      for (const token of [merchant.apiKey, ADMIN, undefined]) {
        for (const method of ['GET', 'POST', 'PUT']) {
          const res = await http.request(method, path, { token, ...(method === 'GET' ? {} : { body: { priceAnnouncement: null } }) });
          expectProblem(res, 400);
          expect(res.body.type).toBe('urn:sanscode:problem:malformed-path');
        }
      }
      expect(await databaseFingerprint(t.db)).toEqual(before);
    },
  );

  it.each(['gzip', 'deflate', 'br', 'x-unknown', 'identity, gzip'])('refuse a body with Content-Encoding %s with 415, storing nothing', async (encoding) => {
    const before = await databaseFingerprint(t.db);
    const res = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0612000003' }, headers: { 'content-encoding': encoding } });
    expectProblem(res, 415);
    expectProblem(await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Zipped' }, headers: { 'content-encoding': encoding } }), 415);
    expect(await databaseFingerprint(t.db)).toEqual(before);
  });

  it('take a body sent with Content-Encoding identity', async () => {
    const res = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Plain' }, headers: { 'content-encoding': 'identity' } });
    expect(res.status).toBe(201);
  });
});

describe('response headers', () => {
  it('send nosniff on every answer, and no-store on every answer of the API', async () => {
    const created = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0612000004' } });
    expect(created.status).toBe(201);
    const { id, clientToken } = created.body;
    const answers = {
      'new merchant (key)': await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Headers' } }),
      'merchant list': await http.request('GET', '/v1/admin/merchants', { token: ADMIN }),
      'new purchase (token)': created,
      purchase: await http.request('GET', `/v1/purchases/${id}`, { token: merchant.apiKey }),
      'client token': await http.request('POST', `/v1/purchases/${id}/client-token`, { token: merchant.apiKey }),
      'client purchase': await http.request('GET', `/v1/client/purchase?token=${clientToken}`),
      'webhook secret': await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: 'https://203.0.113.10/hook' } }),
      cancelled: await http.request('POST', `/v1/purchases/${id}/cancel`, { token: merchant.apiKey }),
      problem: await http.request('GET', `/v1/purchases/${id}`),
      'unknown route': await http.request('GET', '/v2/nothing'),
      health: await http.request('GET', '/healthz'),
    };
    for (const [name, res] of Object.entries(answers)) {
      expect(res.status, name).toBeLessThan(500);
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
      expect(res.headers.get('cache-control'), name).toBe('no-store');
    }
    const controller = new AbortController();
    const stream = await fetch(`${http.base}/v1/client/events?token=${clientToken}`, { signal: controller.signal });
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    expect(stream.headers.get('cache-control')).toMatch(/^no-store/);
    controller.abort();
    await http.request('DELETE', '/v1/webhook', { token: merchant.apiKey });
  });

  it('still let the widget load and read its purchase from an allowed origin', async () => {
    const widget = await fetch(`${http.base}/widget.js`);
    expect(widget.status).toBe(200);
    expect(widget.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(widget.headers.get('cache-control')).toBe('public, max-age=300');
    expect(widget.headers.get('x-content-type-options')).toBe('nosniff');
    await widget.text();

    const { clientToken } = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: '0612000005' } })).body;
    await http.request('PUT', '/v1/allowed-origins', { token: merchant.apiKey, body: { origins: ['https://shop.example'] } });
    const origin = { origin: 'https://shop.example' };
    const read = await http.request('GET', `/v1/client/purchase?token=${clientToken}`, { headers: origin });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    const controller = new AbortController();
    const stream = await fetch(`${http.base}/v1/client/events?token=${clientToken}&lastEventId=0`, { headers: origin, signal: controller.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    controller.abort();
  });

  it('refuse allowed origins that can never match an Origin header', async () => {
    const before = await databaseFingerprint(t.db);
    for (const bad of ['https://*.shop.example', 'https://shop.*', '*', 'https://shop%2A.example', 'https://shop.example.', 'https://-shop.example', 'null']) {
      const res = await http.request('PUT', '/v1/allowed-origins', { token: merchant.apiKey, body: { origins: ['https://ok.example', bad] } });
      expectProblem(res, 400);
      expect(res.body.errors[0].field, bad).toBe('origins.1');
    }
    expect(await databaseFingerprint(t.db)).toEqual(before);
    const good = ['https://shop.example', 'http://localhost:8080', 'https://[::1]:8443', 'https://xn--caf-dma.example', 'http://192.0.2.1'];
    const res = await http.request('PUT', '/v1/allowed-origins', { token: merchant.apiKey, body: { origins: [...good, good[0]] } });
    expect(res.body).toEqual({ origins: good }); // each kept once
    expect((await http.request('GET', '/v1/allowed-origins', { token: merchant.apiKey })).body).toEqual({ origins: good });
  });
});

describe('logs', () => {
  it('record an exhausted pool (503) at info, without an error or a stack', async () => {
    const lines: any[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const logged = await listen(createApi({ db: t.db, log, adminToken: ADMIN, defaultRegion: 'FR' }));
    try {
      const pool = await logged.request('POST', '/v1/admin/offers', {
        token: ADMIN,
        body: { merchantId: merchant.id, name: 'Pool', mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 0, numbers: ['0899600001'], holdSeconds: 60, language: 'fr' },
      });
      expect((await logged.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: pool.body.id } })).status).toBe(201);
      const exhausted = await logged.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: pool.body.id } });
      expect(exhausted.status).toBe(503);
      const line = lines.find((l) => l.res?.statusCode === 503);
      expect(line).toBeDefined();
      expect(line.level).toBe(30);
      expect(line).not.toHaveProperty('err');
      expect(JSON.stringify(line)).not.toMatch(/stack/);
    } finally {
      await logged.close();
    }
  });
});
