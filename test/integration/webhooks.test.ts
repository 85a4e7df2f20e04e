// Webhooks against a real PostgreSQL and a real HTTP receiver: settings API, signatures,
// order per purchase, retries while the receiver is down, restarts, concurrent senders.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asc, eq } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { openDatabase, type Database, type DbHandle } from '../../db/client.js';
import { cancelPurchase, claimDueDeliveries, createPurchase } from '../../db/ledger/index.js';
import { merchants, webhookDeliveries } from '../../db/schema.js';
import { startWebhookSender, type WebhookSender, type WebhookSenderOptions } from '../../webhooks/sender.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';
import { waitFor } from '../support/wait.js';
const silent = pino({ level: 'silent' });
/** Fast retries so that a test sees many attempts in a second or two. */
const FAST: WebhookSenderOptions = { baseBackoffMs: 50, maxBackoffMs: 200, pollMs: 20, allowPrivateNetworks: true };

let t: TestDatabase;
let http: Http;
const receivers: Receiver[] = [];
const senders: WebhookSender[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  // The test receivers listen on 127.0.0.1: allowed here, refused by default (see the last tests).
  http = await listen(createApi({ db: t.db, log: silent, adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000, webhookAllowPrivateNetworks: true }));
});
afterAll(async () => {
  await Promise.all(senders.map((s) => s.stop()));
  await Promise.all(receivers.map((r) => r.down()));
  await http?.close();
  await t?.drop();
});

// ---------------------------------------------------------------- receiver and helpers

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
  eventId: string;
  purchaseId: string;
}

/** A webhook endpoint on 127.0.0.1; `respond` decides each answer (status, or null: hang). */
class Receiver {
  hits: Hit[] = [];
  respond: (hit: Hit) => number | null | Promise<number | null> = () => 200;
  private server: Server;
  private port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let parsed: { id?: string; data?: { id?: string } } = {};
        try {
          parsed = JSON.parse(body);
        } catch {
          // recorded as is
        }
        const hit: Hit = { path: req.url ?? '', headers: req.headers, body, status: 0, eventId: parsed.id ?? '', purchaseId: parsed.data?.id ?? '' };
        const status = await this.respond(hit);
        if (status === null) return; // hang until the client gives up
        hit.status = status;
        this.hits.push(hit);
        res.writeHead(status, status >= 300 && status < 400 ? { location: `${this.url}/moved` } : {}).end('ok');
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async up(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening: connections are refused until `up()` again (same port). */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  accepted(): Hit[] {
    return this.hits.filter((h) => h.status >= 200 && h.status < 300);
  }
}

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().up();
  receivers.push(r);
  return r;
}

function sender(db: Database = t.db, opts: WebhookSenderOptions = {}, log = silent): WebhookSender {
  const s = startWebhookSender(db, log, { ...FAST, ...opts });
  senders.push(s);
  return s;
}

/** The receiver's check, written from docs/webhooks.md with node:crypto (not our module). */
function signatureValid(header: string | string[] | undefined, rawBody: string, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const ts = Number(parts.t);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let seq = 0;
const newCaller = () => `+336${String(20_000_000 + ++seq).slice(-8)}`;

interface Shop {
  merchantId: string;
  apiKey: string;
  offerId: string;
  secret: string;
}

/** A merchant with a 2-call offer and its webhook pointing at `url`. */
async function shop(url: string, name = 'Shop'): Promise<Shop> {
  const { merchant, offer } = await provision(t.db, { callsRequired: 2 }, name);
  const res = await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url } });
  expect(res.status).toBe(200);
  return { merchantId: merchant.id, apiKey: merchant.apiKey, offerId: offer.id, secret: res.body.secret };
}

/** A purchase paid with two counted calls: events progress, progress, completed. */
async function completedPurchase(s: Shop, db: Database = t.db): Promise<string> {
  const caller = newCaller();
  const p = await createPurchase(db, s.merchantId, { offerId: s.offerId, callerNumber: caller });
  for (let i = 0; i < 2; i++) {
    const { admission, count } = await simulateCall(db, { dialed: p.numberToCall, caller });
    expect(admission.action).toBe('answer');
    expect(count).toMatchObject({ counted: true });
  }
  return p.id;
}

async function cancelledPurchase(s: Shop): Promise<string> {
  const p = await createPurchase(t.db, s.merchantId, { offerId: s.offerId, callerNumber: newCaller() });
  await cancelPurchase(t.db, s.merchantId, p.id);
  return p.id;
}

const rowsOf = (merchantId: string) =>
  t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, merchantId)).orderBy(asc(webhookDeliveries.id));

const allDelivered = (s: Shop) => async () => (await rowsOf(s.merchantId)).every((r) => r.status === 'delivered');

/**
 * The guarantees, checked on what the receiver saw: every queued event accepted exactly once,
 * byte for byte the stored body, validly signed; per purchase, no attempt for an event before
 * the previous event was accepted.
 */
async function expectExactlyOnceInOrder(s: Shop, r: Receiver): Promise<void> {
  const rows = await rowsOf(s.merchantId);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.map((row) => row.status)).toEqual(rows.map(() => 'delivered'));
  const accepted = r.accepted();
  expect(accepted.map((h) => h.eventId).sort()).toEqual(rows.map((row) => `evt_${row.eventId}`).sort());
  for (const row of rows) {
    const hit = accepted.find((h) => h.eventId === `evt_${row.eventId}`)!;
    expect(hit.body).toBe(row.body);
    expect(signatureValid(hit.headers['sanscode-signature'], hit.body, s.secret)).toBe(true);
  }
  const purchaseIds = [...new Set(rows.map((row) => row.purchaseId))];
  for (const purchaseId of purchaseIds) {
    const expected = rows.filter((row) => row.purchaseId === purchaseId).map((row) => `evt_${row.eventId}`);
    expect(accepted.filter((h) => h.purchaseId === purchaseId).map((h) => h.eventId)).toEqual(expected);
    // Every attempt (failed ones included) came in order: retries of one event, then the next.
    const attempts = r.hits.filter((h) => h.purchaseId === purchaseId).map((h) => expected.indexOf(h.eventId));
    expect(attempts).toEqual([...attempts].sort((a, b) => a - b));
  }
}

// ---------------------------------------------------------------- settings API

describe('webhook settings API', () => {
  it('sets the URL, keeps the secret across URL changes, rotates it on demand', async () => {
    const { merchant } = await provision(t.db, {}, 'Settings');
    const first = await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: 'https://shop.example/hooks' } });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.body).toEqual({ url: 'https://shop.example/hooks', secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/) });
    const moved = await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: 'http://shop.example:8080/v2/hooks?x=1' } });
    expect(moved.body).toEqual({ url: 'http://shop.example:8080/v2/hooks?x=1', secret: first.body.secret });
    const rotated = await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: 'https://shop.example/hooks', rotateSecret: true } });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(first.body.secret);
  });

  it.each([
    ['no url', {}, 'url'],
    ['a relative url', { url: '/hooks' }, 'url'],
    ['another scheme', { url: 'ftp://shop.example/hooks' }, 'url'],
    ['credentials in the url', { url: 'https://user:pw@shop.example/hooks' }, 'url'],
    ['a url over 2000 characters', { url: `https://shop.example/${'a'.repeat(2000)}` }, 'url'],
    ['a non-boolean rotateSecret', { url: 'https://shop.example/hooks', rotateSecret: 'yes' }, 'rotateSecret'],
    ['an unknown field', { url: 'https://shop.example/hooks', events: ['*'] }, '(body)'],
  ])('refuses %s with 400', async (_n, body, field) => {
    const { merchant } = await provision(t.db, {}, 'Invalid');
    const res = await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect((await rowsOfMerchant(merchant.id)).webhookUrl).toBeNull();
  });

  it.each([
    ['PUT', '/v1/webhook'],
    ['DELETE', '/v1/webhook'],
    ['GET', '/v1/webhook-deliveries'],
  ])('refuses %s %s without a key', async (method, path) => {
    const res = await http.request(method, path, method === 'PUT' ? { body: { url: 'https://x.example/' } } : {});
    expect(res.status).toBe(401);
  });

  it("lists only the merchant's own deliveries, newest first, filtered and limited", async () => {
    const a = await shop('http://127.0.0.1:9/hooks', 'A');
    const b = await shop('http://127.0.0.1:9/hooks', 'B');
    const p1 = await completedPurchase(a);
    const p2 = await cancelledPurchase(a);
    await cancelledPurchase(b);

    const all = await http.request('GET', '/v1/webhook-deliveries', { token: a.apiKey });
    expect(all.status).toBe(200);
    expect(all.body.deliveries.map((d: { type: string }) => d.type)).toEqual(['purchase.cancelled', 'purchase.completed', 'purchase.progress', 'purchase.progress']);
    const rows = await rowsOf(a.merchantId);
    expect(all.body.deliveries[3]).toEqual({
      id: rows[0]!.id,
      eventId: `evt_${rows[0]!.eventId}`,
      type: 'purchase.progress',
      purchaseId: p1,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: expect.any(String),
      lastAttemptAt: null,
      lastStatusCode: null,
      lastError: null,
      deliveredAt: null,
      createdAt: expect.any(String),
    });
    const body = JSON.parse(rows[0]!.body);
    expect(body).toEqual({ id: `evt_${rows[0]!.eventId}`, type: 'purchase.progress', createdAt: expect.any(String), data: expect.objectContaining({ id: p1, callsCounted: 1 }) });

    const filtered = await http.request('GET', `/v1/webhook-deliveries?purchaseId=${p2}`, { token: a.apiKey });
    expect(filtered.body.deliveries.map((d: { purchaseId: string }) => d.purchaseId)).toEqual([p2]);
    const limited = await http.request('GET', '/v1/webhook-deliveries?limit=2', { token: a.apiKey });
    expect(limited.body.deliveries.map((d: { id: number }) => d.id)).toEqual(all.body.deliveries.slice(0, 2).map((d: { id: number }) => d.id));

    const other = await http.request('GET', '/v1/webhook-deliveries', { token: b.apiKey });
    expect(other.body.deliveries).toHaveLength(1);
    expect(other.body.deliveries[0].purchaseId).not.toBe(p1);
    expect((await http.request('GET', `/v1/webhook-deliveries?purchaseId=${p1}`, { token: b.apiKey })).body).toEqual({ deliveries: [] });

    for (const s of [a, b]) expect((await http.request('DELETE', '/v1/webhook', { token: s.apiKey })).status).toBe(204);
  });

  it.each(['limit=0', 'limit=201', 'limit=abc', 'limit=1.5', 'purchaseId=nope', 'status=pending'])('refuses the query %s with 400', async (query) => {
    const { merchant } = await provision(t.db, {}, 'Query');
    const res = await http.request('GET', `/v1/webhook-deliveries?${query}`, { token: merchant.apiKey });
    expect(res.status).toBe(400);
    expect(res.body.errors.length).toBeGreaterThan(0);
  });

  it('DELETE stops queuing events and fails the pending deliveries; a new PUT gets a new secret', async () => {
    const s = await shop('http://127.0.0.1:9/hooks', 'Leaving');
    await cancelledPurchase(s);
    expect((await http.request('DELETE', '/v1/webhook', { token: s.apiKey })).status).toBe(204);
    await cancelledPurchase(s);
    const rows = await rowsOf(s.merchantId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'failed', lastError: 'webhook removed', attempts: 0 });
    const again = await http.request('PUT', '/v1/webhook', { token: s.apiKey, body: { url: 'http://127.0.0.1:9/hooks' } });
    expect(again.body.secret).not.toBe(s.secret);
    await http.request('DELETE', '/v1/webhook', { token: s.apiKey });
  });
});

async function rowsOfMerchant(id: string) {
  const [row] = await t.db.select().from(merchants).where(eq(merchants.id, id));
  return row!;
}

// ---------------------------------------------------------------- delivery

describe('webhook delivery', () => {
  it('sends progress, progress, completed in order, byte for byte, signed, one log line each', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'In order');
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const sending = sender(t.db, {}, log);
    const purchaseId = await completedPurchase(s);
    await waitFor('3 deliveries', allDelivered(s));
    await sending.stop();

    expect(r.accepted().map((h) => JSON.parse(h.body).type)).toEqual(['purchase.progress', 'purchase.progress', 'purchase.completed']);
    expect(r.hits.map((h) => JSON.parse(h.body).data.callsCounted)).toEqual([1, 2, 2]);
    for (const h of r.hits) {
      expect(h.purchaseId).toBe(purchaseId);
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.headers['user-agent']).toBe('sanscode-webhooks');
    }
    await expectExactlyOnceInOrder(s, r);
    const listed = await http.request('GET', '/v1/webhook-deliveries', { token: s.apiKey });
    for (const d of listed.body.deliveries) {
      expect(d).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null, nextAttemptAt: null, deliveredAt: expect.any(String) });
    }
    const attempts = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'webhook delivered');
    expect(attempts.map((l) => l.eventId)).toEqual(r.hits.map((h) => h.eventId));
    expect(attempts[0]).toMatchObject({ deliveryId: expect.any(Number), statusCode: 200 });
    expect(lines.join('\n')).not.toContain(s.secret);
  });

  it('retries while the receiver answers 500 or refuses connections, then delivers each event once, in order', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'Flaky');
    r.respond = () => 500;
    const sending = sender();
    await completedPurchase(s);
    await cancelledPurchase(s);
    await completedPurchase(s);
    await waitFor('several failed attempts', () => r.hits.length >= 8);
    await r.down();
    await waitFor('refused connections recorded', async () => (await rowsOf(s.merchantId)).some((row) => row.lastError?.includes('ECONNREFUSED')));
    r.respond = () => 200;
    await r.up();
    await waitFor('all delivered', allDelivered(s));
    await sending.stop();

    await expectExactlyOnceInOrder(s, r);
    const rows = await rowsOf(s.merchantId);
    expect(rows[0]!.attempts).toBeGreaterThan(2);
    expect(rows.every((row) => row.lastStatusCode === 200 && row.lastError === null)).toBe(true);
  });

  it('loses and duplicates nothing across restarts: queued without a sender, one stopped mid-way, one that died holding a lease', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'Restarts');
    r.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 200;
    };
    for (let i = 0; i < 4; i++) await completedPurchase(s);

    // A sender that claimed two deliveries and died: they come back when the lease runs out.
    const dead = await claimDueDeliveries(t.db, 2, 500);
    expect(dead).toHaveLength(2);

    const first = sender(t.db, { batchSize: 2 });
    await waitFor('a few deliveries', () => r.accepted().length >= 3);
    await first.stop(); // waits for the deliveries in flight
    const afterStop = r.accepted().length;
    const delivered = (await rowsOf(s.merchantId)).filter((row) => row.status === 'delivered').length;
    expect(delivered).toBe(afterStop); // nothing was left half-done
    expect(afterStop).toBeLessThan(12);

    sender(t.db, { batchSize: 2 });
    await waitFor('all delivered', allDelivered(s));
    await expectExactlyOnceInOrder(s, r);
  });

  it('two senders on separate connection pools deliver each event exactly once, in order per purchase', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'Concurrent');
    let n = 0;
    r.respond = async () => {
      await new Promise((resolve) => setTimeout(resolve, (n * 7) % 20));
      return ++n % 4 === 0 ? 500 : 200; // every fourth attempt fails
    };
    const other: DbHandle = await openDatabase({ databaseUrl: t.url, migrate: false, poolSize: 3 });
    try {
      sender(t.db, { batchSize: 3 });
      sender(other.db, { batchSize: 3 });
      await Promise.all([completedPurchase(s), completedPurchase(s), completedPurchase(s, other.db), cancelledPurchase(s), completedPurchase(s, other.db), completedPurchase(s)]);
      await waitFor('all delivered', async () => (await rowsOf(s.merchantId)).length === 16 && (await allDelivered(s)()));
      await expectExactlyOnceInOrder(s, r);
      expect(r.hits.some((h) => h.status === 500)).toBe(true);
    } finally {
      await Promise.all(senders.splice(0).map((x) => x.stop()));
      await other.close();
    }
  });

  it('does not follow redirects, gives up after the maximum age, then sends the next event of the purchase', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'Redirect');
    let firstEvent = '';
    r.respond = (hit) => {
      firstEvent ||= hit.eventId;
      return hit.eventId === firstEvent ? 302 : 200;
    };
    sender(t.db, { maxAgeMs: 300 });
    await completedPurchase(s);
    await waitFor('all settled', async () => (await rowsOf(s.merchantId)).every((row) => row.status !== 'pending'));
    const rows = await rowsOf(s.merchantId);
    expect(rows.map((row) => row.status)).toEqual(['failed', 'delivered', 'delivered']);
    expect(rows[0]).toMatchObject({ lastStatusCode: 302, lastError: 'HTTP 302' });
    expect(rows[0]!.attempts).toBeGreaterThanOrEqual(1);
    expect(r.hits.some((h) => h.path.endsWith('/moved'))).toBe(false);
    expect(r.accepted().map((h) => h.eventId)).toEqual(rows.slice(1).map((row) => `evt_${row.eventId}`));
    await Promise.all(senders.splice(0).map((x) => x.stop()));
  });

  it('times out a receiver that does not answer and retries', async () => {
    const r = await receiver();
    const s = await shop(r.url, 'Slow');
    let calls = 0;
    r.respond = () => (++calls === 1 ? null : 200);
    const sending = sender(t.db, { timeoutMs: 200, leaseMs: 1_000 });
    await cancelledPurchase(s);
    await waitFor('delivered', allDelivered(s));
    await sending.stop();
    const [row] = await rowsOf(s.merchantId);
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200 });
    expect(r.accepted()).toHaveLength(1);
  });
});

describe('destinations', () => {
  it('refuses loopback, private and metadata addresses unless the operator allows them', async () => {
    const strict = await listen(createApi({ db: t.db, log: silent, adminToken: ADMIN, defaultRegion: 'FR' }));
    try {
      const { merchant } = await provision(t.db, { numbers: ['+33899400099'] }, 'strict');
      for (const url of ['http://127.0.0.1:8080/x', 'http://localhost/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest', 'http://[::1]/x', 'http://[::ffff:192.168.1.1]/x']) {
        const res = await strict.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url } });
        expect(res.status, url).toBe(422);
        expect(res.body.type).toBe('urn:sanscode:problem:webhook-destination-refused');
      }
      expect((await strict.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: 'https://93.184.215.14/hooks' } })).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('checks again at delivery time, and records the refusal as a failed attempt', async () => {
    const r = await receiver();
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899400098'] }, 'rebinding');
    await http.request('PUT', '/v1/webhook', { token: merchant.apiKey, body: { url: r.url } });
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33600009998' });
    await cancelPurchase(t.db, merchant.id, p.id);
    const s = sender(t.db, { allowPrivateNetworks: false });
    const delivery = async () => (await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.purchaseId, p.id)))[0];
    await waitFor('a refused attempt', async () => ((await delivery())?.attempts ?? 0) >= 1);
    await s.stop();
    expect((await delivery())?.lastError).toMatch(/destination refused/);
    expect(r.hits).toHaveLength(0);
  });
});
