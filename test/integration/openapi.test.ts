// The OpenAPI document against the app: the same operations as the router, every operation's
// success answer checked against its documented schema on a real answer, a drifted answer
// caught, and a reference page that needs nothing but this server.
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { openApiDocument } from '../../api/openapi.js';
import { codeWebhookEvent, purchaseLiveEvent, webhookEvent } from '../../api/schemas.js';
import { codeWebhookBody, webhookEventBody } from '../../domain/webhook-event.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { checkAnswer, checkedAnswers, documentedOperations } from '../support/contract.js';
import { endCall } from '../../db/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { appRoutes } from '../support/routes.js';
import { openSse } from '../support/sse.js';

let t: TestDatabase;
let app: express.Express;
let http: Http;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen, webhookAllowPrivateNetworks: true });
  http = await listen(app);
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

const asOpenApi = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

describe('the document', () => {
  it('lists exactly the operations the router answers', () => {
    const routed = appRoutes(app).map((r) => `${r.method} ${asOpenApi(r.path)}`);
    const documented = documentedOperations.map((op) => `${op.method} ${op.template}`);
    expect(new Set(routed).size).toBe(routed.length);
    expect([...documented].sort()).toEqual([...routed].sort());
  });

  it('is served at /openapi.json, public and briefly cacheable, as generated', async () => {
    const res = await http.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(res.body.openapi).toBe('3.1.0');
  });

  it('resolves every $ref, names every operation once, and declares every path parameter', () => {
    const doc = JSON.parse(JSON.stringify(openApiDocument()));
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      const pointer = ref.slice('"$ref":"#/'.length, -1).split('/');
      expect(pointer.reduce((node, key) => node?.[key], doc), ref).toBeDefined();
    }
    const ids: string[] = [];
    for (const [template, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        ids.push(op.operationId);
        const inPath = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name);
        expect(inPath.sort(), `${method} ${template}`).toEqual([...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort());
        expect(op.security, `${method} ${template}`).toBeDefined();
        for (const schemeSet of op.security) for (const scheme of Object.keys(schemeSet)) expect(doc.components.securitySchemes).toHaveProperty(scheme);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('every operation', () => {
  it('answers as documented, each success checked against its schema', { timeout: 60_000 }, async () => {
    const admin = { token: ADMIN };
    const merchant = (await http.request('POST', '/v1/admin/merchants', { ...admin, body: { name: 'Tour' } })).body;
    const key = { token: merchant.apiKey };
    await http.request('GET', '/v1/admin/merchants?limit=5', admin);
    await http.request('GET', `/v1/admin/merchants/${merchant.id}`, admin);
    const common = { merchantId: merchant.id, callsRequired: 2, minCallSeconds: 0, language: 'fr', priceLine: '2 appels à 2,99 €' };
    const offer = (await http.request('POST', '/v1/admin/offers', { ...admin, body: { ...common, name: 'Article', mode: 'caller_id', numbers: ['0899500001'], purchaseTtlSeconds: 600 } })).body;
    const pool = (await http.request('POST', '/v1/admin/offers', { ...admin, body: { ...common, name: 'Contact', mode: 'dynamic_number', numbers: ['0899500101', '0899500102'], holdSeconds: 60, maxHoldSeconds: 600 } })).body;
    await http.request('GET', `/v1/admin/offers/${offer.id}`, admin);
    await http.request('GET', `/v1/admin/offers/${pool.id}`, admin);
    await http.request('PUT', '/v1/admin/numbers/0899500001', { ...admin, body: { priceAnnouncement: 'sanscode/price-2-99' } });
    await http.request('PUT', `/v1/admin/merchants/${merchant.id}/name-sound`, { ...admin, body: { sound: 'sanscode/names/tour' } });
    await http.request('PUT', `/v1/admin/offers/${offer.id}/name-sound`, { ...admin, body: { sound: null } });

    await http.request('PUT', '/v1/webhook', { ...key, body: { url: 'http://127.0.0.1:9/hook' } });
    await http.request('PUT', '/v1/allowed-origins', { ...key, body: { origins: ['https://shop.example'] } });
    await http.request('GET', '/v1/allowed-origins', key);
    const bought = (await http.request('POST', '/v1/purchases', { ...key, body: { offerId: offer.id, callerNumber: '0612500001', reference: 'tour' } })).body;
    const lent = (await http.request('POST', '/v1/purchases', { ...key, body: { offerId: pool.id } })).body;
    await simulateCall(t.db, { dialed: '+33899500001', caller: '+33612500001', hangUp: true });
    await simulateCall(t.db, { dialed: '+33899500001', caller: null });
    await http.request('GET', `/v1/purchases/${bought.id}`, key);
    await http.request('POST', `/v1/purchases/${bought.id}/client-token`, key);
    await http.request('GET', `/v1/client/purchase?token=${bought.clientToken}`, { headers: { origin: 'https://shop.example' } });
    await http.request('POST', `/v1/purchases/${lent.id}/extend`, key);
    // A call the IVR lost, then credited by the operator.
    const lost = await simulateCall(t.db, { dialed: lent.numberToCall, caller: '+33612500002', count: false });
    await endCall(t.db, lost.facts.channelId, { lost: true });
    const credit = await http.request('POST', `/v1/admin/calls/${lost.facts.channelId}/credit`, { ...admin, body: { reason: 'billed by the carrier' } });
    expect(credit.status, JSON.stringify(credit.body)).toBe(200);
    await http.request('GET', `/v1/admin/offers/${pool.id}/pool`, admin);
    await http.request('GET', '/v1/admin/calls?limit=10', admin);
    await http.request('GET', '/v1/webhook-deliveries', key);
    // An access code: issued by a call, found by the operator, checked and redeemed by the merchant.
    await http.request('POST', '/v1/admin/offers', { ...admin, body: { ...common, callsRequired: 1, name: 'Code', mode: 'access_code', numbers: ['0899500301'] } });
    const paid = await simulateCall(t.db, { dialed: '+33899500301', caller: '+33612500003', hangUp: true });
    const code = paid.count?.counted ? paid.count.code : undefined;
    expect(code).toMatch(/^[0-9]{8}$/);
    await http.request('GET', '/v1/admin/codes?caller=0612500003', admin);
    await http.request('GET', `/v1/codes/${code}`, key);
    await http.request('POST', '/v1/codes/redeem', { ...key, body: { code, reference: 'tour' } });
    await http.request('POST', `/v1/purchases/${bought.id}/cancel`, key);
    await http.request('DELETE', '/v1/webhook', key);
    await http.request('GET', '/v1/admin/callers/0612500001', admin);
    await http.request('DELETE', '/v1/admin/callers/0612500001', admin);

    for (const [path, headers] of [
      [`/v1/purchases/${bought.id}/events`, { authorization: `Bearer ${merchant.apiKey}` }],
      [`/v1/client/events?token=${bought.clientToken}`, {}],
    ] as const) {
      const stream = await openSse(http.base + path, headers);
      try {
        checkAnswer('GET', path, { status: stream.status, headers: stream.headers, body: '' });
        // Created, a call counted, cancelled: each event's data as documented.
        for (const event of await stream.take(3)) expect(purchaseLiveEvent.safeParse(event.data).error).toBeUndefined();
      } finally {
        stream.close();
      }
    }

    await http.request('GET', '/healthz');
    await http.request('GET', '/readyz');
    await http.request('GET', '/widget.js');
    await http.request('GET', '/openapi.json');
    await http.request('GET', '/docs');
    await http.request('GET', '/docs/swagger-ui.css');

    const unchecked = documentedOperations.filter((op) => ![...checkedAnswers].some((a) => a.startsWith(`${op.method} ${op.template} 2`)));
    expect(unchecked.map((op) => `${op.method} ${op.template}`)).toEqual([]);
  });

  it('sends webhook bodies as documented', async () => {
    const merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Hooks' } })).body;
    const offer = (
      await http.request('POST', '/v1/admin/offers', {
        token: ADMIN,
        body: { merchantId: merchant.id, name: 'A', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899500201'], purchaseTtlSeconds: 60, language: 'en' },
      })
    ).body;
    const { clientToken: _token, ...purchase } = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0612500002' } })).body;
    const body = webhookEventBody({ purchaseEventId: 7, type: 'purchase.completed', createdAt: new Date(), purchase });
    expect(webhookEvent.safeParse(JSON.parse(body)).error).toBeUndefined();
    const now = new Date().toISOString();
    const code = { offerId: offer.id, purchaseId: purchase.id, callsCounted: 2, issuedAt: now, expiresAt: now, redeemedAt: null, reference: null };
    expect(codeWebhookEvent.safeParse(JSON.parse(codeWebhookBody({ purchaseEventId: 8, type: 'code.issued', createdAt: new Date(), code }))).error).toBeUndefined();
  });
});

describe('an answer that drifts from the documentation', () => {
  let drifting: Http;
  beforeAll(async () => {
    const fake = express();
    fake.get('/healthz', (_req, res) => void res.json({ ok: true, uptime: 12 }));
    fake.get('/v1/admin/merchants/:id', (_req, res) => void res.status(418).json({}));
    fake.get('/widget.js', (_req, res) => void res.type('text/plain').send('x'));
    fake.post('/v1/purchases', (_req, res) => void res.status(503).type('application/problem+json').send(JSON.stringify({ type: 'urn:sanscode:problem:pool-exhausted', title: 'x', status: 503, detail: 'x' })));
    fake.get('/v1/purchases/:id', (_req, res) => void res.status(404).type('application/problem+json').send(JSON.stringify({ type: 'urn:sanscode:problem:not-found', title: 'x', status: 400, detail: 'x' })));
    fake.get('/v1/undocumented', (_req, res) => void res.json({}));
    drifting = await listen(fake);
  });
  afterAll(() => drifting?.close());

  it.each([
    ['an undocumented field', 'GET', '/healthz', /drifted[\s\S]*uptime/],
    ['an undocumented status', 'GET', '/v1/admin/merchants/00000000-0000-4000-8000-000000000000', /documents only/],
    ['an undocumented Content-Type', 'GET', '/widget.js', /text\/plain, where the documentation has text\/javascript/],
    ['a missing documented header', 'POST', '/v1/purchases', /headers drifted[\s\S]*Retry-After/],
    ['a problem whose status is not the answer’s', 'GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', /problem's status differs/],
    ['an undocumented operation', 'GET', '/v1/undocumented', /an operation the documentation does not list/],
  ])('fails the test: %s', async (_name, method, path, message) => {
    await expect(drifting.request(method, path)).rejects.toThrow(message);
  });
});

describe('the reference page', () => {
  it('is served at /docs and loads only files from this server', async () => {
    const res = await http.request('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html: string = res.body;
    const references = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(references.length).toBeGreaterThanOrEqual(3);
    expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    for (const reference of references) {
      expect(reference).toMatch(/^\/docs\/[\w.-]+$/);
      const asset = await fetch(http.base + reference);
      expect(asset.status, reference).toBe(200);
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
      const text = await asset.text();
      expect(text.length, reference).toBeGreaterThan(0);
      // The page's own script reads the document from this server and nothing else.
      if (reference === '/docs/init.js') expect([...text.matchAll(/'([^']*\/[^']*)'/g)].map((m) => m[1])).toEqual(['/openapi.json']);
    }
  });

  it('serves no other file of the Swagger UI package', async () => {
    for (const other of ['index.html', 'swagger-initializer.js', 'package.json', '..%2Fpackage.json']) {
      expect((await http.request('GET', `/docs/${other}`)).status, other).toBe(404);
    }
  });
});
