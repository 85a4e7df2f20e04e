// Live progress: SSE ordering, resume with Last-Event-ID, delivery across API processes
// (LISTEN/NOTIFY through PostgreSQL), client tokens and CORS.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { sql } from 'drizzle-orm';
import { expireDuePurchases } from '../../db/ledger/index.js';
import { startApiProcess } from '../support/api-process.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { openSse } from '../support/sse.js';

let t: TestDatabase;
let http: Http;
let merchant: { id: string; apiKey: string };
let offerId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen }));
  merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Live' } })).body;
  offerId = (
    await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: merchant.id, name: 'Article', mode: 'caller_id', callsRequired: 2, minCallSeconds: 0, numbers: ['0899300001'], purchaseTtlSeconds: 600, language: 'fr', priceLine: '2 appels à 2,99 €' },
    })
  ).body.id;
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let callerSeq = 0;
async function newPurchase() {
  const caller = `06${String(30_000_000 + ++callerSeq).slice(-8)}`;
  const res = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId, callerNumber: caller } });
  expect(res.status).toBe(201);
  return { ...res.body, caller } as { id: string; clientToken: string; caller: string };
}

/** One counted call from the buyer (`caller` as typed, national format): admit, answer, count, hang up. */
async function callOnce(caller: string, channelId: string) {
  const { count } = await simulateCall(t.db, { channelId, dialed: '+33899300001', caller: `+33${caller.slice(1)}`, hangUp: true });
  expect(count).toMatchObject({ counted: true });
}

describe('purchase event stream', () => {
  it('streams progress in order, with call in progress, then completed', async () => {
    const p = await newPurchase();
    const stream = await openSse(`${http.base}/v1/purchases/${p.id}/events`, { authorization: `Bearer ${merchant.apiKey}` });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await stream.take(1);
    await callOnce(p.caller, `${p.id}-1`);
    await callOnce(p.caller, `${p.id}-2`);
    const events = await stream.take(6);
    stream.close();
    expect(events.map((e) => [e.event, e.data.callsRemaining, e.data.callInProgress])).toEqual([
      ['progress', 2, false], // created
      ['progress', 2, true], // first call answered
      ['progress', 1, false], // first call counted
      ['progress', 1, true],
      ['progress', 0, false],
      ['completed', 0, false],
    ]);
    const ids = events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('resumes after a reconnect with Last-Event-ID, missing nothing and repeating nothing', async () => {
    const p = await newPurchase();
    const url = `${http.base}/v1/client/events?token=${p.clientToken}`;
    const first = await openSse(url);
    const [created] = await first.take(1);
    first.close();
    await callOnce(p.caller, `${p.id}-1`); // happens while the page is disconnected
    const second = await openSse(url, { 'last-event-id': created!.id! });
    const resumed = await second.take(2);
    expect(resumed.map((e) => e.data.callsCounted)).toEqual([0, 1]);
    expect(Number(resumed[0]!.id)).toBeGreaterThan(Number(created!.id));
    await callOnce(p.caller, `${p.id}-2`);
    const all = await second.take(5);
    second.close();
    expect(all.map((e) => e.event)).toEqual(['progress', 'progress', 'progress', 'progress', 'completed']);
  });

  it('reaches a client connected to another API process', async () => {
    const other = await startApiProcess(t.url, ADMIN);
    try {
      const p = await newPurchase();
      const remote = await openSse(`${other.base}/v1/client/events?token=${p.clientToken}`);
      await remote.take(1);
      await callOnce(p.caller, `${p.id}-1`); // written by this process, streamed by the other
      const events = await remote.take(3, 5_000);
      remote.close();
      expect(events[2]).toMatchObject({ event: 'progress', data: { callsCounted: 1, callsRemaining: 1 } });
    } finally {
      await other.stop();
    }
  }, 90_000); // the other process may take up to a minute to start on a loaded machine

  it('tells the page when the purchase expires (the sweep writes what reads already knew)', async () => {
    const p = await newPurchase();
    const stream = await openSse(`${http.base}/v1/client/events?token=${p.clientToken}`);
    await stream.take(1);
    await t.db.execute(sql`update purchases set expires_at = now() - interval '1 second' where id = ${p.id}`);
    expect(await expireDuePurchases(t.db)).toBeGreaterThanOrEqual(1);
    const [, expired] = await stream.take(2);
    stream.close();
    expect(expired).toMatchObject({ event: 'expired', data: { status: 'expired', callsRemaining: 2 } });
  });
});

describe('client token', () => {
  it('reads only its own purchase, with the price line, and never with a bad token', async () => {
    const p = await newPurchase();
    const ok = await http.request('GET', `/v1/client/purchase?token=${p.clientToken}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ purchaseId: p.id, status: 'pending', callsRemaining: 2, callInProgress: false, priceLine: '2 appels à 2,99 €', language: 'fr' });
    const tampered = p.clientToken.slice(0, -2) + (p.clientToken.endsWith('AA') ? 'BB' : 'AA');
    for (const token of ['', 'nope', tampered, merchant.apiKey]) {
      const res = await http.request('GET', `/v1/client/purchase?token=${encodeURIComponent(token)}`);
      expect(res.status).toBe(401);
    }
    expect((await http.request('GET', `/v1/purchases/${p.id}`, { token: p.clientToken })).status).toBe(401);
  });

  it('allows CORS only from the merchant declared origins', async () => {
    const p = await newPurchase();
    const set = await http.request('PUT', '/v1/allowed-origins', { token: merchant.apiKey, body: { origins: ['https://shop.example'] } });
    expect(set.body).toEqual({ origins: ['https://shop.example'] });
    const bad = await http.request('PUT', '/v1/allowed-origins', { token: merchant.apiKey, body: { origins: ['https://shop.example/path'] } });
    expect(bad.status).toBe(400);
    const allowed = await http.request('GET', `/v1/client/purchase?token=${p.clientToken}`, { headers: { origin: 'https://shop.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    const other = await http.request('GET', `/v1/client/purchase?token=${p.clientToken}`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('mints a fresh token for the merchant', async () => {
    const p = await newPurchase();
    const res = await http.request('POST', `/v1/purchases/${p.id}/client-token`, { token: merchant.apiKey });
    expect(res.body.clientToken).toMatch(/^ct_/);
    expect((await http.request('GET', `/v1/client/purchase?token=${res.body.clientToken}`)).body.purchaseId).toBe(p.id);
  });
});
