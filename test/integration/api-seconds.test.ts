// Per-second offers and purchases through the HTTP API: offer validation, the Purchase JSON,
// the browser's view and the live events (every answer is checked against the documented
// schema by test/support/http.ts).
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { purchaseLiveEvent } from '../../api/schemas.js';
import { creditSeconds, endCall } from '../../db/ledger/index.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';
import { openSse } from '../support/sse.js';

let t: TestDatabase;
let http: Http;
let merchant: { id: string; apiKey: string };

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000, listen: t.listen }));
  merchant = (await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Consultations' } })).body;
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

const base = () => ({ merchantId: merchant.id, name: 'Consultation', mode: 'caller_id', numbers: ['0899 30 00 01'], purchaseTtlSeconds: 900, language: 'en' });
const createOffer = (body: Record<string, unknown>) => http.request('POST', '/v1/admin/offers', { token: ADMIN, body });

describe('per-second offers', () => {
  it('creates a unit second offer with secondsRequired (calls fields fixed to one call)', async () => {
    const res = await createOffer({ ...base(), unit: 'second', secondsRequired: 300 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ unit: 'second', secondsRequired: 300, callsRequired: 1, minCallSeconds: 0 });
    expect((await http.request('GET', `/v1/admin/offers/${res.body.id}`, { token: ADMIN })).body).toMatchObject({ unit: 'second', secondsRequired: 300 });
  });

  it('keeps per-call offers as they were: unit call by default, no seconds fields', async () => {
    const res = await createOffer({ ...base(), numbers: ['0899300002'], callsRequired: 2, minCallSeconds: 10 });
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('unit');
    expect(res.body).not.toHaveProperty('secondsRequired');
  });

  it.each([
    [{ unit: 'second' }, 'secondsRequired', 'required when unit is second'],
    [{ unit: 'second', secondsRequired: 60, callsRequired: 1 }, 'callsRequired', 'not used when unit is second'],
    [{ unit: 'second', secondsRequired: 60, minCallSeconds: 0 }, 'minCallSeconds', 'not used when unit is second'],
    [{ callsRequired: 1, minCallSeconds: 0, secondsRequired: 60 }, 'secondsRequired', 'not used when unit is call'],
    [{ unit: 'call', minCallSeconds: 0 }, 'callsRequired', 'required when unit is call'],
    [{ unit: 'second', secondsRequired: 0 }, 'secondsRequired', undefined],
    [{ unit: 'second', secondsRequired: 3601 }, 'secondsRequired', undefined],
    [{ unit: 'minute', secondsRequired: 60 }, 'unit', undefined],
  ])('refuses %j (400 on %s)', async (fields, field, message) => {
    const before = (await t.db.execute(sql`select count(*)::int as n from offers`)) as unknown as { n: number }[];
    const res = await createOffer({ ...base(), numbers: ['0899300003'], ...fields });
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field, message: message ?? expect.any(String) });
    const after = (await t.db.execute(sql`select count(*)::int as n from offers`)) as unknown as { n: number }[];
    expect(after[0]!.n).toBe(before[0]!.n);
  });
});

describe('per-second purchases', () => {
  it('reads its seconds in the Purchase, the browser view and the live events', async () => {
    const offer = (await createOffer({ ...base(), numbers: ['0899300004'], unit: 'second', secondsRequired: 20 })).body;
    const created = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0671300004' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ unit: 'second', secondsRequired: 20, secondsCounted: 0, secondsRemaining: 20 });
    const id = created.body.id as string;

    const stream = await openSse(`${http.base}/v1/purchases/${id}/events`, { authorization: `Bearer ${merchant.apiKey}` });
    await stream.take(1);
    const { facts } = await simulateCall(t.db, { dialed: '+33899300004', caller: '+33671300004', count: false });
    await t.db.execute(sql`update calls set answered_at = now() - interval '12.3 seconds' where channel_id = ${facts.channelId}`);
    await creditSeconds(t.db, facts.channelId);
    await endCall(t.db, facts.channelId, { cause: 16, causeText: 'Normal Clearing' });
    // created, call_started, then seconds_credited at hang-up only: the periodic credit came
    // less than 10 s (of real time) after call_started.
    const events = await stream.take(3, 10_000);
    stream.close();
    for (const e of events) purchaseLiveEvent.parse(e.data);
    expect(events.map((e) => [e.event, e.data.secondsCounted, e.data.secondsRemaining, e.data.callInProgress])).toEqual([
      ['progress', 0, 20, false],
      ['progress', 0, 20, true],
      ['progress', 12, 8, false],
    ]);

    const read = await http.request('GET', `/v1/purchases/${id}`, { token: merchant.apiKey });
    expect(read.body).toMatchObject({ status: 'pending', unit: 'second', secondsCounted: 12, secondsRemaining: 8 });
    const client = await http.request('GET', `/v1/client/purchase?token=${created.body.clientToken}`);
    expect(client.body).toMatchObject({ unit: 'second', secondsRequired: 20, secondsCounted: 12, secondsRemaining: 8, callInProgress: false });
  });

  it('keeps per-call purchases as they were', async () => {
    const offer = (await createOffer({ ...base(), numbers: ['0899300005'], callsRequired: 1, minCallSeconds: 0 })).body;
    const created = await http.request('POST', '/v1/purchases', { token: merchant.apiKey, body: { offerId: offer.id, callerNumber: '0671300005' } });
    expect(created.status).toBe(201);
    for (const field of ['unit', 'secondsRequired', 'secondsCounted', 'secondsRemaining']) expect(created.body).not.toHaveProperty(field);
  });
});
