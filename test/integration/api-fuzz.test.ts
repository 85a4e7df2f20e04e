// Property: whatever a client sends to any route (method, path, percent-encoding, headers,
// credentials, body bytes, Content-Type, Content-Encoding), the answer is below 500, and a
// refused request leaves every table exactly as it was. The routes are read from the app's own
// router, so a new route is fuzzed without anyone listing it. Requests go over raw sockets so
// that nothing (fetch's URL parser, header checks) cleans the input up first.
// Runs are seeded for reproducibility; FUZZ_SEED=<n> explores another part of the space.
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { Express } from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { databaseFingerprint } from '../support/fingerprint.js';
import { listen, type Http } from '../support/http.js';
import { appRoutes, type RouteInfo } from '../support/routes.js';

const SEED = Number(process.env.FUZZ_SEED ?? 7_2026);
const RUNS_PER_ROUTE = 40;

let t: TestDatabase;
let app: Express;
let http: Http;
let port: number;
/** Values that make a request valid, so that fuzzing reaches past authentication. */
const known = {
  merchantKey: '',
  merchantId: '',
  offerId: '',
  poolOfferId: '',
  purchaseId: '',
  lentPurchaseId: '',
  clientToken: '',
};

beforeAll(async () => {
  t = await createTestDatabase();
  // Private networks allowed: a fuzzed webhook URL must not send the test to a DNS resolver.
  // The limiter off (its own tests are in limiter.test.ts), so that fuzzed credentials do not
  // turn the rest of the run into 429s.
  app = createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen, webhookAllowPrivateNetworks: true, authFailuresPerMinute: 1e9 });
  http = await listen(app);
  port = Number(new URL(http.base).port);
  const merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Fuzz' } })).body;
  known.merchantKey = merchant.apiKey;
  known.merchantId = merchant.id;
  const offer = (name: string, extra: object) =>
    http.request('POST', '/v1/admin/offers', { token: ADMIN, body: { merchantId: merchant.id, name, callsRequired: 2, minCallSeconds: 0, language: 'fr', ...extra } });
  known.offerId = (await offer('Article', { mode: 'caller_id', numbers: ['0899700001'], purchaseTtlSeconds: 600 })).body.id;
  known.poolOfferId = (await offer('Pool', { mode: 'dynamic_number', numbers: ['0899700101', '0899700102'], holdSeconds: 60 })).body.id;
  const purchase = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: known.offerId, callerNumber: '0612700001' } })).body;
  known.purchaseId = purchase.id;
  known.clientToken = purchase.clientToken;
  known.lentPurchaseId = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: known.poolOfferId } })).body.id;
  expect([known.offerId, known.poolOfferId, known.purchaseId, known.lentPurchaseId].every(Boolean)).toBe(true);
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

interface Answer {
  status: number;
  headers: string;
}

/** Sends raw bytes, reads the status line and headers (an event stream is then dropped). */
function send(request: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in 10 s; got ${JSON.stringify(received.toString('latin1').slice(0, 300))}`));
    }, 10_000);
    const finish = () => {
      clearTimeout(timer);
      const text = received.toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      if (!status) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 300))}`));
      resolve({ status, headers: text.slice(0, Math.max(text.indexOf('\r\n\r\n'), 0)) });
    };
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      // A stream never ends by itself: its headers are the answer.
      if (text.includes('\r\n\r\n') && /^content-type: text\/event-stream/im.test(text.slice(0, text.indexOf('\r\n\r\n')))) {
        socket.destroy();
        finish();
      }
    });
    socket.on('end', finish);
    socket.on('error', (err) => {
      // The server may close on a request it cannot parse before we finished writing.
      if (received.length > 0) finish();
      else {
        clearTimeout(timer);
        reject(err);
      }
    });
    // Not end(): a client that half-closes is a client that left, and gets no answer.
    socket.write(request);
  });
}

// --- generators -------------------------------------------------------------------------

/** Strings with the characters that once made 500s: NUL, lone surrogates, controls, any Unicode. */
const nastyString = fc.oneof(
  fc.constantFrom('', 'a\u0000b', '\u0000', '\uD800', 'x\uDFFF', '\uDE00\uD83D', '📰', 'é', '%00', '%ZZ', '\\', '"', 'https://*.shop.example', 'https://203.0.113.10/h', ' '),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', '0', '\u0000', '\uD800', '\uDC00', '\u00e9', '\u202e', '\n', '%', '\uFFFF'), maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ minLength: 190, maxLength: 2100 }),
);

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: nastyString, weight: 5 },
  { arbitrary: fc.constantFrom(0, -1, 1.5, 1e308, -0, 20, 21, 600, 604800, 2 ** 53, null, true, false), weight: 2 },
  { arbitrary: fc.array(nastyString, { maxLength: 4 }), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);

/** A body close to what the route takes, so that validation (and what lies past it) is reached. */
function sampleBody(method: string, path: string): Record<string, unknown> {
  const key = `${method} ${path}`;
  if (key === 'POST /v1/admin/merchants') return { name: 'Shop' };
  if (key === 'POST /v1/admin/offers')
    return { merchantId: known.merchantId, name: 'Offer', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899700201'], purchaseTtlSeconds: 60, language: 'fr', priceLine: '1 €' };
  if (key === 'PUT /v1/admin/numbers/:number') return { priceAnnouncement: 'sanscode/price', holdSound: 'sanscode/hold' };
  if (key === 'POST /v1/purchases') return { offerId: known.offerId, callerNumber: '0612700002', reference: 'ref' };
  if (key === 'PUT /v1/webhook') return { url: 'http://127.0.0.1:9/hook', rotateSecret: false };
  if (key === 'PUT /v1/allowed-origins') return { origins: ['https://shop.example'] };
  return {};
}

const bodyFor = (route: RouteInfo): fc.Arbitrary<Buffer | null> => {
  const sample = sampleBody(route.method, route.path);
  const fieldsOf = Object.keys(sample);
  const mutated = fc
    .tuple(fc.constantFrom(...(fieldsOf.length ? fieldsOf : ['x'])), nastyValue, fc.boolean(), fc.constantFrom('plain', 'escape-surrogate', 'extra-field', 'drop-field'))
    .map(([field, value, keep, how]) => {
      const body: Record<string, unknown> = { ...sample };
      if (how === 'drop-field') delete body[field];
      else if (how === 'extra-field') body[`${field}_extra`] = value;
      else if (!keep || how === 'plain') body[field] = value;
      let text = JSON.stringify(body);
      // JSON escapes reach the parser as lone surrogates, which no JS string literal can carry through fetch.
      if (how === 'escape-surrogate') text = text.replace(/"([^"]*)"(?=[,}\]])/, '"$1\\ud800"');
      return Buffer.from(text, 'utf8');
    });
  return fc.oneof(
    { arbitrary: fc.constant(null), weight: route.method === 'GET' ? 6 : 1 },
    { arbitrary: fc.constant(Buffer.from(JSON.stringify(sample))), weight: 2 },
    { arbitrary: mutated, weight: 6 },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), weight: 1 },
    { arbitrary: fc.constant(gzipSync(Buffer.from(JSON.stringify(sample)))), weight: 1 },
    { arbitrary: fc.constantFrom('{', '{"a":', '[]', '"x"', '{"name": "\\u0000"}', '{"name": "\\uDBFF"}', 'null').map((s) => Buffer.from(s)), weight: 1 },
    { arbitrary: fc.constant(Buffer.from(JSON.stringify({ ...sample, pad: 'x'.repeat(17_000) }))), weight: 1 },
  );
};

/** A path segment as it appears on the wire: valid ids, encodings good and bad, raw bytes. */
const segment = (validIds: string[]) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...validIds), weight: 4 },
    { arbitrary: fc.uuid().map(String), weight: 1 },
    { arbitrary: fc.constantFrom('%', '%ZZ', '%E0%A4%A', '%ED%A0%80', '%C3%28', '%00', '%2F', '..', '%252F', '0899700001', '%2B33899700001', 'x'.repeat(300)), weight: 3 },
    { arbitrary: fc.string({ maxLength: 20 }).filter((s) => !/\p{Surrogate}/u.test(s)).map((s) => encodeURIComponent(s)), weight: 2 },
    { arbitrary: fc.string({ unit: fc.constantFrom('a', '%', 'Z', '0', 'E', '/', ';', '~', '!', '*'), maxLength: 12 }), weight: 2 },
  );

const idsFor = (param: string, path: string) =>
  param === 'asset'
    ? ['swagger-ui.css', 'init.js', 'index.html']
    : param === 'number' ? ['0899700001', '+33899700101', '12'] : path.startsWith('/v1/admin/offers') ? [known.offerId, known.poolOfferId] : path.startsWith('/v1/admin/merchants') ? [known.merchantId] : [known.purchaseId, known.lentPurchaseId];

function pathFor(route: RouteInfo): fc.Arbitrary<string> {
  const parts = route.path.split('/').map((part) => (part.startsWith(':') ? segment(idsFor(part.slice(1), route.path)) : fc.constant(part)));
  const query = fc.oneof(
    { arbitrary: fc.constant(''), weight: 3 },
    { arbitrary: fc.constant(`?token=${known.clientToken}`), weight: 2 },
    {
      weight: 2,
      arbitrary: fc
      .array(fc.tuple(fc.constantFrom('token', 'limit', 'outcome', 'dialed', 'purchaseId', 'lastEventId', 'x', 'token[]'), fc.oneof(segment([known.clientToken, '1', '0', known.purchaseId]), fc.constant(''))), { maxLength: 3 })
      .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : '')),
    },
  );
  return fc.tuple(fc.tuple(...parts), query).map(([segments, q]) => segments.join('/') + q);
}

const headerValue = fc.oneof(fc.constantFrom('', 'x', '0', '-1', '999999999999999999999', '%ZZ', 'é'), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')));

/** Headers, with the credential the route takes most of the time, so that fuzzing gets past it. */
const headersFor = (route: RouteInfo) => {
  const right = route.path.startsWith('/v1/admin') ? () => `Bearer ${ADMIN}` : () => `Bearer ${known.merchantKey}`;
  return fc.record({
    authorization: fc.oneof(
      { arbitrary: fc.constant(right), weight: 8 },
      {
        arbitrary: fc.oneof(
          fc.constant(() => `Bearer ${ADMIN}`),
          fc.constant(() => `Bearer ${known.merchantKey}`),
          fc.constant(() => `Bearer ${known.clientToken}`),
          fc.constant(() => null),
          fc.constant(() => `Bearer sk_${'A'.repeat(43)}`),
          fc.constant(() => `Basic ${Buffer.from('a:b').toString('base64')}`),
          headerValue.map((v) => () => `Bearer ${v}`),
        ),
        weight: 2,
      },
    ),
    contentType: fc.oneof(
      { arbitrary: fc.constant('application/json'), weight: 6 },
      { arbitrary: fc.constantFrom('application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/merge-patch+json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', null), weight: 2 },
      { arbitrary: headerValue, weight: 1 },
    ),
    contentEncoding: fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'gzip, identity', 'x-unknown'), weight: 2 }, { arbitrary: headerValue, weight: 1 }),
    // Expect (other than 100-continue) and Transfer-Encoding next to Content-Length are answered
    // by Node itself (417, 400), before the app: rare here so that the app gets the rest.
    extra: fc.oneof(
      { arbitrary: fc.constant([] as [string, string][]), weight: 3 },
      { arbitrary: fc.array(fc.tuple(fc.constantFrom('origin', 'last-event-id', 'x-forwarded-for', 'accept', 'accept-encoding', 'range', 'if-none-match', 'if-modified-since', 'expect'), headerValue), { maxLength: 3 }), weight: 1 },
    ),
  });
};

const method = (route: RouteInfo) => fc.oneof({ arbitrary: fc.constant(route.method), weight: 5 }, { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), weight: 1 });

type Headers = ReturnType<typeof headersFor> extends fc.Arbitrary<infer H> ? H : never;

function rawRequest(m: string, path: string, h: Headers, body: Buffer | null): Buffer {
  const lines = [`${m} ${path} HTTP/1.1`, 'Host: api.test', 'Connection: close'];
  const auth = h.authorization();
  if (auth !== null) lines.push(`Authorization: ${auth}`);
  if (h.contentType !== null) lines.push(`Content-Type: ${h.contentType}`);
  if (h.contentEncoding !== null) lines.push(`Content-Encoding: ${h.contentEncoding}`);
  for (const [name, value] of h.extra) lines.push(`${name}: ${value}`);
  if (body) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body ?? Buffer.alloc(0)]);
}

// --- the property ------------------------------------------------------------------------

let fingerprint: Record<string, string> | null = null;

async function check(m: string, path: string, request: Buffer): Promise<number> {
  fingerprint ??= await databaseFingerprint(t.db);
  const answer = await send(request);
  const deliberate503 = answer.status === 503 && /^retry-after: \d+$/im.test(answer.headers);
  expect(answer.status < 500 || deliberate503, `${m} ${path} → ${answer.status}\n${answer.headers}`).toBe(true);
  const after = await databaseFingerprint(t.db);
  if (answer.status >= 400) expect(after, `${m} ${path} → ${answer.status} changed the database`).toEqual(fingerprint);
  fingerprint = after;
  return answer.status;
}

describe('any request to any route', () => {
  const routes = () => appRoutes(app);

  it('finds every documented route in the router', () => {
    const found = routes().map((r) => `${r.method} ${r.path}`);
    for (const route of [
      'POST /v1/admin/merchants', 'GET /v1/admin/merchants', 'GET /v1/admin/merchants/:id', 'POST /v1/admin/offers', 'GET /v1/admin/offers/:id',
      'GET /v1/admin/offers/:id/pool', 'PUT /v1/admin/numbers/:number', 'GET /v1/admin/calls', 'POST /v1/purchases', 'GET /v1/purchases/:id',
      'POST /v1/purchases/:id/cancel', 'POST /v1/purchases/:id/extend', 'GET /v1/purchases/:id/events', 'POST /v1/purchases/:id/client-token',
      'GET /v1/client/purchase', 'GET /v1/client/events', 'PUT /v1/allowed-origins', 'GET /v1/allowed-origins', 'PUT /v1/webhook',
      'DELETE /v1/webhook', 'GET /v1/webhook-deliveries', 'GET /healthz', 'GET /readyz', 'GET /widget.js', 'GET /openapi.json', 'GET /docs', 'GET /docs/:asset',
    ]) {
      expect(found).toContain(route);
    }
  });

  it(`answers below 500 and changes nothing when it refuses (${RUNS_PER_ROUTE} runs per route)`, { timeout: 120_000 }, async () => {
    const served: string[] = [];
    for (const [index, route] of routes().entries()) {
      let successes = 0;
      await fc.assert(
        fc.asyncProperty(method(route), pathFor(route), headersFor(route), bodyFor(route), async (m, path, h, body) => {
          if ((await check(m, path, rawRequest(m, path, h, body))) < 300) successes += 1;
        }),
        { numRuns: RUNS_PER_ROUTE, seed: SEED + index, endOnFailure: true },
      );
      if (successes > 0) served.push(`${route.method} ${route.path}`);
    }
    // The inputs are not all refused at the door: most routes were also reached and served.
    expect(served.length).toBeGreaterThan(routes().length / 2);
  });

  it('answers below 500 on paths no route takes', { timeout: 60_000 }, async () => {
    const anyPath = fc
      .array(fc.oneof(fc.constantFrom('v1', 'admin', 'client', 'purchases', 'merchants', '..', '%', '%ZZ', '%C0%AF', ''), fc.string({ unit: fc.constantFrom('a', '%', '2', 'F', '.', '-'), maxLength: 8 })), { minLength: 1, maxLength: 5 })
      .map((parts) => `/${parts.join('/')}`);
    const route = { method: 'GET', path: '/' };
    await fc.assert(
      fc.asyncProperty(method(route), anyPath, headersFor(route), bodyFor(route), async (m, path, h, body) => {
        await check(m, path, rawRequest(m, path, h, body));
      }),
      { numRuns: 60, seed: SEED, endOnFailure: true },
    );
  });
});
