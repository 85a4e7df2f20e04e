// Runs the API and IVR flows with the process logger writing into a buffer, then checks that
// no secret issued during the test (API keys and their hashes, client tokens, webhook secrets,
// the admin token, the client-token signing key) and no full buyer number appears in it, even
// for requests that carry a token in the URL and for queries that fail with those values as
// parameters.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { createLogger } from '../../core/log.js';
import { CallFlow } from '../../ivr/call-flow.js';
import type { IncomingCall } from '../../ivr/telephony.js';
import { startWebhookSender, type WebhookSender } from '../../webhooks/sender.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTelephony } from '../support/fake-telephony.js';
import { listen, type Http } from '../support/http.js';
import { openSse } from '../support/sse.js';
import { waitFor } from '../support/wait.js';

const lines: string[] = [];
const logs = () => lines.join('');
const log = createLogger('info', { write: (line: string) => void lines.push(line) });

let t: TestDatabase;
let http: Http;
let receiver: Server;
let sender: WebhookSender;
const received: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log, adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen, webhookAllowPrivateNetworks: true }));
  receiver = await new Promise<Server>((resolve) => {
    const s = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(req.url ?? '');
        res.end();
      });
    }).listen(0, '127.0.0.1', () => resolve(s));
  });
  sender = startWebhookSender(t.db, log.child({ component: 'webhooks' }), { allowPrivateNetworks: true, pollMs: 100 });
});
afterAll(async () => {
  await sender?.stop();
  await http?.close();
  await new Promise((r) => receiver?.close(r));
  await t?.drop();
});

/** Runs `during` with a statement that fails on purpose, then removes the cause. */
async function withFailure(breakIt: string, repair: string, during: () => Promise<unknown>) {
  await t.db.execute(sql.raw(breakIt));
  try {
    await during();
  } finally {
    await t.db.execute(sql.raw(repair));
  }
}

describe('logs', () => {
  it('hold no secret and no full buyer number after API and IVR flows', async () => {
    const secrets: string[] = [ADMIN];
    // Buyers' numbers in every shape they take: typed, E.164, as a caller ID.
    const buyers = ['+33612345678', '0612345678', '+33687654321', '0687654321', '+33611112222', '0611112222', '+33699998888', '0699998888', '+33655556666'];
    const req = (method: string, path: string, token?: string, body?: unknown) => http.request(method, path, { token, body });

    // Merchants, offers, webhook.
    const shop = (await req('POST', '/v1/admin/merchants', ADMIN, { name: 'Shop' })).body;
    const other = (await req('POST', '/v1/admin/merchants', ADMIN, { name: 'Other' })).body;
    secrets.push(shop.apiKey, other.apiKey, ...[shop.apiKey, other.apiKey].map((k: string) => createHash('sha256').update(k).digest('hex')));
    const callerOffer = (
      await req('POST', '/v1/admin/offers', ADMIN, {
        merchantId: shop.id, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899400001'], purchaseTtlSeconds: 600, language: 'fr',
      })
    ).body;
    const pool = (
      await req('POST', '/v1/admin/offers', ADMIN, {
        merchantId: shop.id, name: 'Contact', mode: 'dynamic_number', callsRequired: 1, minCallSeconds: 0, numbers: ['0899400002'], holdSeconds: 300, quarantineSeconds: 0, language: 'fr',
      })
    ).body;
    const hook = await req('PUT', '/v1/webhook', shop.apiKey, { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
    expect(hook.status).toBe(200);
    secrets.push(hook.body.secret);
    await req('GET', `/v1/admin/offers/${callerOffer.id}?token=${ADMIN}`, ADMIN);
    expect((await req('GET', '/v1/admin/offers/x', 'wrong-admin-token-0123456789')).status).toBe(401);

    // Purchases, client tokens in URLs, an API key passed where a client token goes.
    const bought = await req('POST', '/v1/purchases', shop.apiKey, { offerId: callerOffer.id, callerNumber: '06 12 34 56 78', reference: 'article-1' });
    expect(bought.status).toBe(201);
    secrets.push(bought.body.clientToken);
    const again = await req('POST', '/v1/purchases', shop.apiKey, { offerId: callerOffer.id, callerNumber: '0612345678' });
    expect(again.status).toBe(409);
    const fresh = await req('POST', `/v1/purchases/${bought.body.id}/client-token`, shop.apiKey);
    secrets.push(fresh.body.clientToken);
    expect((await req('GET', `/v1/client/purchase?token=${encodeURIComponent(fresh.body.clientToken)}`)).status).toBe(200);
    expect((await req('GET', `/v1/client/purchase?token=${shop.apiKey}`)).status).toBe(401);
    await req('GET', `/v1/purchases/${bought.body.id}?key=${shop.apiKey}&callerNumber=%2B33612345678`, shop.apiKey);
    const stream = await openSse(`${http.base}/v1/client/events?token=${bought.body.clientToken}`);
    await stream.take(1);
    stream.close();
    await waitFor('the event stream to be logged', () => logs().includes('/v1/client/events'));
    const lent = await req('POST', '/v1/purchases', shop.apiKey, { offerId: pool.id });
    secrets.push(lent.body.clientToken);

    // Queries that fail with secrets and numbers among their parameters.
    await withFailure(
      `alter table purchases add constraint leak_probe check (reference is distinct from 'leak-probe')`,
      'alter table purchases drop constraint leak_probe',
      async () => expect((await req('POST', '/v1/purchases', shop.apiKey, { offerId: callerOffer.id, callerNumber: '0687654321', reference: 'leak-probe' })).status).toBe(500),
    );
    await withFailure(
      `alter table merchants add constraint leak_probe check (webhook_url is distinct from 'http://127.0.0.1:9/leak-probe')`,
      'alter table merchants drop constraint leak_probe',
      async () => expect((await req('PUT', '/v1/webhook', other.apiKey, { url: 'http://127.0.0.1:9/leak-probe', rotateSecret: true })).status).toBe(500),
    );
    // A key never presented before, so the key lookup (its hash as a parameter) reaches the
    // database instead of the verified-key cache.
    const newcomer = (await req('POST', '/v1/admin/merchants', ADMIN, { name: 'Fresh' })).body;
    secrets.push(newcomer.apiKey, createHash('sha256').update(newcomer.apiKey).digest('hex'));
    await withFailure('alter table merchants rename column api_key_hash to api_key_hash_away', 'alter table merchants rename column api_key_hash_away to api_key_hash', async () =>
      expect((await req('GET', `/v1/purchases/${bought.body.id}`, newcomer.apiKey)).status).toBe(500),
    );

    // IVR: a buyer paying, a stranger, a withheld caller, a lent number, a decision that fails.
    const phone = new FakeTelephony();
    const flow = new CallFlow(t.db, phone, log.child({ component: 'ivr' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
    phone.onEnded = (info) => void flow.callEnded(info);
    const call = async (channelId: string, dialedRaw: string, callerRaw: string) => {
      const c: IncomingCall = { channelId, asteriskId: 'node-1', dialedRaw, callerRaw };
      await flow.callStarted(c);
      await flow.callEnded({ channelId, cause: 16, causeText: 'Normal Clearing' });
    };
    await call('buyer', '0899400001', '0612345678');
    await call('stranger', '0899400001', '+33611112222');
    await call('withheld', '0899400001', 'anonymous');
    await call('visitor', '0899400002', '0655556666');
    await withFailure(
      `alter table calls add constraint leak_probe check (caller_raw is distinct from '0699998888')`,
      'alter table calls drop constraint leak_probe',
      () => call('failing', '0899400001', '0699998888'),
    );
    await waitFor('the webhook to be delivered', () => received.length > 0);
    await waitFor('the delivery to be logged', () => logs().includes('webhook delivered'));

    const [signing] = (await t.db.execute(sql`select value from secrets where name = 'client_token_key'`)) as unknown as { value: string }[];
    secrets.push(signing!.value);

    // The lines under test exist (so the checks below are not vacuous)...
    const text = logs();
    expect(text).toContain('/v1/client/purchase?token=[redacted]');
    expect(text).toContain('/v1/client/events?token=[redacted]');
    expect(text.match(/Failed query: /g)?.length).toBeGreaterThanOrEqual(4);
    expect(text).toContain('call decision failed');
    expect(text).toContain('"caller":"+336123456**"');
    expect(text).toContain('"caller":"+336111122**"');
    // ...and carry none of it.
    expect(secrets.every(Boolean)).toBe(true);
    for (const secret of secrets) expect(text, `secret ${secret.slice(0, 6)}… in logs`).not.toContain(secret);
    for (const number of buyers) expect(text, `buyer number ${number} in logs`).not.toContain(number);
    expect(text).not.toMatch(/\b(?:sk|ct|whsec)_[A-Za-z0-9]/);
    const errors = text.trim().split('\n').map((line) => JSON.parse(line).err).filter((err) => err && typeof err === 'object');
    for (const err of errors) for (const field of ['params', 'parameters', 'args', 'query', 'detail']) expect(err).not.toHaveProperty(field);
  });
});
