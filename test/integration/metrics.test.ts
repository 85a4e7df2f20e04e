// Health and metrics: /metrics on its own server carries every series operators alert on,
// with the values a purchase flow and a few calls produce and labels that hold no id or
// token; /readyz tells the database's state without telling where it is; the IVR's health
// server is not ready until ARI is connected.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { Readiness, startHealthServer, startMetricsServer } from '../../core/health.js';
import { setLedgerSource } from '../../core/metrics.js';
import { openDatabase } from '../../db/client.js';
import { createMerchant, databaseReachable, metricsFigures, setWebhook } from '../../db/ledger/index.js';
import { CallFlow } from '../../ivr/call-flow.js';
import { startWebhookSender } from '../../webhooks/sender.js';
import { simulateCall } from '../support/calls.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTelephony } from '../support/fake-telephony.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';
import { openSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

const log = pino({ level: 'silent' });
const ADMIN = 'metrics-admin-token-0123456789';
let t: TestDatabase;
let http: Http;
let metricsServer: Server;
let metricsBase: string;

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log, adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen }));
  metricsServer = await startMetricsServer(0, '127.0.0.1', log);
  metricsBase = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`;
  setLedgerSource(() => metricsFigures(t.db));
});
afterAll(async () => {
  setLedgerSource(null);
  metricsServer?.close();
  await http?.close();
  await t?.drop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`${metricsBase}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

/** The value of one series (name and exact labels), or undefined when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('counts purchases, calls, decisions, answered seconds, completions and lost calls', async () => {
    const merchant = await createMerchant(t.db, 'Metrics shop');
    const offer = (await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899300002'], purchaseTtlSeconds: 600, language: 'fr' },
    })).body;
    const before = await scrape();
    const created = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0611300001' } });
    expect(created.status).toBe(201);

    const phone = new FakeTelephony();
    const flow = new CallFlow(t.db, phone, log, { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600, endGraceMs: 0 });
    phone.onEnded = (info) => void flow.callEnded(info);
    await flow.callStarted({ channelId: 'm-paid', asteriskId: 'node-m', dialedRaw: '0899300002', callerRaw: '0611300001' });
    await flow.callStarted({ channelId: 'm-anon', asteriskId: 'node-m', dialedRaw: '0899300002', callerRaw: 'anonymous' });
    // A call answered on a node whose IVR went away, found vanished at the next resync: lost.
    await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0611300002' } });
    await simulateCall(t.db, { channelId: 'm-lost', dialed: '+33899300002', caller: '+33611300002', count: false });
    await flow.resync('node-test');
    // The operator credits the lost call (the carrier billed it): its purchase completes.
    const credit = await http.request('POST', '/v1/admin/calls/m-lost/credit', { token: ADMIN, body: { reason: 'carrier statement' } });
    expect(credit.status).toBe(200);
    // A per-second purchase of 1 s, completed at once by its call.
    const seconds = (await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Time', mode: 'caller_id', unit: 'second', secondsRequired: 1, numbers: ['0899300003'], purchaseTtlSeconds: 600, language: 'fr' },
    })).body;
    await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: seconds.id, callerNumber: '0611300003' } });
    await flow.callStarted({ channelId: 'm-seconds', asteriskId: 'node-m', dialedRaw: '0899300003', callerRaw: '0611300003' });

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => (value(after, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    expect(delta('sanscode_purchases_created_total', { mode: 'caller_id' })).toBe(3);
    // The paid call, the credited lost call, the per-second call.
    expect(delta('sanscode_purchases_completed_total', { mode: 'caller_id' })).toBe(3);
    expect(delta('sanscode_calls_total', { outcome: 'counted' })).toBe(2);
    expect(delta('sanscode_calls_total', { outcome: 'anonymous' })).toBe(1);
    expect(delta('sanscode_calls_total', { outcome: 'lost' })).toBe(1);
    expect(delta('sanscode_call_decision_seconds_count', { action: 'answer' })).toBe(2);
    expect(delta('sanscode_call_decision_seconds_count', { action: 'reject' })).toBe(1);
    expect(value(after, 'sanscode_call_decision_seconds_bucket', { action: 'answer', le: '+Inf' })).toBeGreaterThanOrEqual(1);
    // The paid call, the lost one and the per-second one were answered: three durations observed.
    expect(delta('sanscode_call_answered_seconds_count')).toBe(3);
    expect(value(after, 'sanscode_active_calls')).toBe(0);
    for (const name of ['sanscode_ari_connected', 'sanscode_ivr_leader', 'sanscode_live_streams', 'sanscode_webhook_backlog', 'sanscode_webhook_oldest_pending_seconds']) {
      expect(value(after, name), name).toBeDefined();
    }
  });

  it('tells each dynamic offer’s free, lent and resting numbers', async () => {
    const merchant = await createMerchant(t.db, 'Pool shop');
    const pool = (await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Pool', mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 0, numbers: ['0899300010', '0899300011', '0899300012'], holdSeconds: 300, quarantineSeconds: 300, language: 'fr' },
    })).body;
    const lent = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: pool.id } })).body;
    const resting = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: pool.id } })).body;
    await http.request('POST', `/v1/purchases/${resting.id}/cancel`, { token: merchant.apiKey });
    void lent;
    setLedgerSource(() => metricsFigures(t.db)); // drops the 10 s cache of earlier scrapes
    const text = await scrape();
    expect(value(text, 'sanscode_pool_numbers', { offer: pool.id, state: 'free' })).toBe(1);
    expect(value(text, 'sanscode_pool_numbers', { offer: pool.id, state: 'lent' })).toBe(1);
    expect(value(text, 'sanscode_pool_numbers', { offer: pool.id, state: 'resting' })).toBe(1);
    expect(value(text, 'sanscode_purchases_created_total', { mode: 'dynamic_number' })).toBeGreaterThanOrEqual(2);
  });

  it('shows the webhook backlog, its oldest age, and the attempts and failures of the sender', async () => {
    const failing: Server = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899300020'] }, 'Webhook shop');
    await setWebhook(t.db, merchant.id, `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hook?token=secret-in-url`);
    await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0611300020' } });
    await simulateCall(t.db, { dialed: '+33899300020', caller: '+33611300020', hangUp: true }); // completes: two events queued
    setLedgerSource(() => metricsFigures(t.db));
    const queued = await scrape();
    expect(value(queued, 'sanscode_webhook_backlog')).toBeGreaterThanOrEqual(1);
    expect(value(queued, 'sanscode_webhook_oldest_pending_seconds')).toBeGreaterThanOrEqual(0);

    const attemptsBefore = value(queued, 'sanscode_webhook_delivery_attempts_total') ?? 0;
    const failuresBefore = value(queued, 'sanscode_webhook_delivery_failures_total', { next: 'retry' }) ?? 0;
    const sender = startWebhookSender(t.db, log, { pollMs: 50, baseBackoffMs: 60_000, allowPrivateNetworks: true });
    try {
      await waitFor('a failed webhook attempt', async () => (value(await scrape(), 'sanscode_webhook_delivery_failures_total', { next: 'retry' }) ?? 0) > failuresBefore, 20_000);
    } finally {
      await sender.stop();
      failing.close();
    }
    const text = await scrape();
    expect(value(text, 'sanscode_webhook_delivery_attempts_total')).toBeGreaterThan(attemptsBefore);
    expect(text).not.toContain('secret-in-url');
  });

  it('counts open event streams, and times requests by route template, never by raw path', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899300030'] }, 'Stream shop');
    const p = (await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0611300030' } })).body;
    const stream = await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`);
    try {
      await stream.take(1);
      expect(value(await scrape(), 'sanscode_live_streams')).toBe(1);
    } finally {
      stream.close();
    }
    await waitFor('the stream to close', async () => value(await scrape(), 'sanscode_live_streams') === 0, 10_000);

    await http.request('GET', `/v1/purchases/${p.id}`, { token: merchant.apiKey });
    // A 404 from inside the route (an unknown purchase) keeps the route's template.
    await http.request('GET', '/v1/purchases/00000000-0000-4000-8000-000000000000', { token: merchant.apiKey });
    await http.request('GET', `/nothing/here/${p.id}`);
    const text = await scrape();
    expect(value(text, 'sanscode_http_request_duration_seconds_count', { method: 'GET', route: '/v1/purchases/:id', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sanscode_http_request_duration_seconds_count', { method: 'GET', route: '/v1/purchases/:id', status_code: '404' })).toBe(1);
    expect(value(text, 'sanscode_http_request_duration_seconds_count', { method: 'POST', route: '/v1/purchases', status_code: '201' })).toBeGreaterThanOrEqual(1);
    expect(value(text, 'sanscode_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBeGreaterThanOrEqual(1);
    // No id, key or token in any label; the stream itself is not a latency.
    for (const secret of [p.id, p.clientToken, merchant.apiKey, '/v1/client/events']) expect(text).not.toContain(secret);
  });

  it('is not served on the API port', async () => {
    expect((await fetch(`${http.base}/metrics`)).status).toBe(404);
  });
});

describe('GET /readyz', () => {
  it('is 200 with the database up', async () => {
    const res = await http.request('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ready: true, checks: { database: 'up' } });
  });

  it('is 503 with the database down, and names no host nor URL', async () => {
    const deadUrl = 'postgres://sanscode:hunter2@127.0.0.1:1/nowhere';
    const dead = await openDatabase({ databaseUrl: deadUrl, migrate: false });
    const deadApi = await listen(createApi({ db: dead.db, log, adminToken: ADMIN, defaultRegion: 'FR' }));
    try {
      const res = await deadApi.request('GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ ready: false, checks: { database: 'down' } });
      const raw = JSON.stringify(res.body);
      for (const leak of ['127.0.0.1', 'hunter2', 'nowhere', 'ECONNREFUSED']) expect(raw).not.toContain(leak);
      expect((await deadApi.request('GET', '/healthz')).status).toBe(200);
    } finally {
      await deadApi.close();
      await dead.close();
    }
  });
});

describe('the IVR health server', () => {
  it('is not ready until ARI is connected, and live all along', async () => {
    let ariUp = false;
    const readiness = new Readiness({ database: () => databaseReachable(t.db, 1_000), ari: () => ariUp, worker: () => true });
    const server = await startHealthServer(readiness, 0, '127.0.0.1', log);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const down = await fetch(`${base}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ ready: false, checks: { database: 'up', ari: 'disconnected', worker: 'active' } });
      ariUp = true;
      const up = await fetch(`${base}/readyz`);
      expect(up.status).toBe(200);
      expect(await up.json()).toEqual({ ready: true, checks: { database: 'up', ari: 'connected', worker: 'active' } });
      expect((await fetch(`${base}/metrics`)).status).toBe(404);
      expect((await fetch(`${base}/readyz`, { method: 'POST' })).status).toBe(405);
    } finally {
      server.close();
    }
  });
});
