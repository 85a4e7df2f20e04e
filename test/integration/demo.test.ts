// The demo merchant site's backend (/demo, ApiOptions.demo) and the widget file: provisioning
// once per database, purchases through sanscode's own HTTP API with the key kept server-side,
// resuming a pending purchase (409), and a full pool (503 + Retry-After).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { demoState } from '../../demo/routes.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let http: Http;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR', listen: t.listen, demo: true }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

const buy = (body: unknown) => http.request('POST', '/demo/api/purchases', { body });

describe('demo merchant site', () => {
  it('is served only when enabled; the widget always is', async () => {
    const off = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR' }));
    try {
      expect((await off.request('GET', '/demo')).status).toBe(404);
      const widget = await off.request('GET', '/widget.js');
      expect(widget.status).toBe(200);
      expect(widget.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(widget.body).toContain('sanscode:paid');
    } finally {
      await off.close();
    }
    const page = await http.request('GET', '/demo');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('/demo/api/purchases');
  });

  it('provisions the demo merchant once and keeps it across restarts', async () => {
    await buy({ mode: 'caller_id', phone: '0612000001' });
    const first = await demoState(t.db);
    const again = await listen(createApi({ db: t.db, log, adminToken: undefined, defaultRegion: 'FR', demo: true }));
    try {
      expect((await again.request('POST', '/demo/api/purchases', { body: { mode: 'caller_id', phone: '0612000002' } })).status).toBe(201);
    } finally {
      await again.close();
    }
    expect(await demoState(t.db)).toEqual(first);
  });

  it('buys by caller ID, resumes the pending purchase, never hands out the key', async () => {
    const { apiKey } = await demoState(t.db);
    const created = await buy({ mode: 'caller_id', phone: '06 12 00 00 03' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ mode: 'caller_id', numberToCall: '+33899123456', callerNumber: '+33612000003', resumed: false });
    expect(created.body.clientToken).toMatch(/^ct_/);
    const resumed = await buy({ mode: 'caller_id', phone: '0612000003' });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ purchaseId: created.body.purchaseId, resumed: true });
    const client = await http.request('GET', `/v1/client/purchase?token=${resumed.body.clientToken}`);
    expect(client.body).toMatchObject({ purchaseId: created.body.purchaseId, callsRemaining: 2, priceLine: "2 appels à 2,99 € TTC l'appel", language: 'fr' });
    const server = await http.request('GET', `/demo/api/purchases/${created.body.purchaseId}`);
    expect(server.body).toEqual({ purchaseId: created.body.purchaseId, status: 'pending', callsCounted: 0, callsRequired: 2 });
    for (const r of [created, resumed, server]) expect(JSON.stringify(r.body)).not.toContain(apiKey);
  });

  it('refuses bad input plainly', async () => {
    expect((await buy({ mode: 'caller_id' })).status).toBe(400);
    expect((await buy({ mode: 'caller_id', phone: '12' })).status).toBe(422);
    expect((await buy({ mode: 'nope' })).status).toBe(400);
    expect((await http.request('GET', '/demo/api/purchases/not-a-uuid')).status).toBe(404);
  });

  it('lends the five pool numbers, then says when to retry', async () => {
    const lent = [];
    for (let i = 0; i < 5; i++) {
      const r = await buy({ mode: 'dynamic_number' });
      expect(r.status).toBe(201);
      lent.push(r.body.numberToCall);
    }
    expect(lent.sort()).toEqual(['+33899200001', '+33899200002', '+33899200003', '+33899200004', '+33899200005']);
    const full = await buy({ mode: 'dynamic_number' });
    expect(full.status).toBe(503);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(full.body.retryAfterSeconds).toBe(Number(full.headers.get('retry-after')));
  });
});
