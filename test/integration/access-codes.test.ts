// Access codes against a real PostgreSQL: offers, formulas (caller ID, window, simultaneous first
// calls), code issue (random, unique among unredeemed, in the count's transaction), redemption
// (single use under 20 parallel redeems, 409/410/404, the failure bound), the API and webhooks.
import { asc, eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../api/app.js';
import { checkCode, createOffer, createPurchase, LedgerError, listCalls, listCodes, redeemCode, setWebhook } from '../../db/ledger/index.js';
import { accessCodes, codeRedeemFailures, purchases, webhookDeliveries } from '../../db/schema.js';
import { REDEEM_FAILURES_PER_WINDOW } from '../../domain/index.js';
import { simulateCall } from '../support/calls.js';
import { ADMIN } from '../support/constants.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';
import { listen, type Http } from '../support/http.js';

/** Scripted draws for the collision test; empty: the real crypto.randomInt. */
const scriptedDraws: number[] = [];
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, randomInt: (n: number) => (scriptedDraws.length > 0 ? scriptedDraws.shift()! : real.randomInt(n)) };
});

let t: TestDatabase;
let http: Http;
beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: ADMIN, defaultRegion: 'FR', authFailuresPerMinute: 1000 }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

let seq = 0;
const newCaller = () => `+336${String(20_000_000 + ++seq).slice(-8)}`;
let numberSeq = 0;
const newNumber = () => `+33899${String(300_000 + ++numberSeq).slice(-6)}`;

async function codeOffer(callsRequired: number, over: { formulaWindowSeconds?: number; codeTtlSeconds?: number } = {}) {
  const number = newNumber();
  const p = await provision(t.db, {
    mode: 'access_code',
    callsRequired,
    numbers: [number],
    purchaseTtlSeconds: null,
    codeTtlSeconds: over.codeTtlSeconds ?? 86_400,
    formulaWindowSeconds: over.formulaWindowSeconds ?? 3_600,
  });
  return { ...p, number };
}

/** One counted call (minimum 0) with hang-up; returns the count. */
async function paidCall(number: string, caller: string | null) {
  const r = await simulateCall(t.db, { dialed: number, caller, hangUp: true });
  return r;
}

/** A code issued on a fresh 1-call offer. */
async function issuedCode() {
  const o = await codeOffer(1);
  const r = await paidCall(o.number, newCaller());
  if (!r.count?.counted || !r.count.code) throw new Error('no code');
  return { ...o, code: r.count.code };
}

describe('access-code offers', () => {
  it('keep a premium number to one mode (409 number-in-use both ways)', async () => {
    const shared = await provision(t.db, { numbers: ['+33899400001'] });
    const err = await createOffer(t.db, {
      merchantId: shared.merchant.id,
      name: 'codes',
      mode: 'access_code',
      callsRequired: 1,
      minCallSeconds: 0,
      numbers: ['+33899400001'],
      codeTtlSeconds: 86_400,
      formulaWindowSeconds: 3_600,
      language: 'fr',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'number_in_use', extra: { numbers: ['+33899400001'] } });
    const codes = await codeOffer(1);
    const back = await createOffer(t.db, { merchantId: codes.merchant.id, name: 'cid', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: [codes.number], purchaseTtlSeconds: 600, language: 'fr' }).catch(
      (e: unknown) => e,
    );
    expect(back).toMatchObject({ code: 'number_in_use' });
  });

  it('take no merchant purchase', async () => {
    const o = await codeOffer(1);
    await expect(createPurchase(t.db, o.merchant.id, { offerId: o.offer.id, callerNumber: newCaller() })).rejects.toMatchObject({ code: 'access_code_offer' });
  });
});

describe('formulas', () => {
  it('issue the code at the last call only, with code.issued and no purchase.* webhook', async () => {
    const o = await codeOffer(2);
    await setWebhook(t.db, o.merchant.id, 'https://shop.example/hooks');
    const caller = newCaller();
    const first = await paidCall(o.number, caller);
    expect(first.admission).toMatchObject({ action: 'answer_for_code', callsRemaining: 2 });
    expect(first.count).toMatchObject({ counted: true, completed: false, purchase: { callsRemaining: 1 } });
    expect(first.count?.counted && first.count.code).toBeUndefined();
    const second = await paidCall(o.number, caller);
    expect(second.admission).toMatchObject({ action: 'answer_for_code', callsRemaining: 1 });
    if (!second.count?.counted) throw new Error('not counted');
    expect(second.count.completed).toBe(true);
    expect(second.count.code).toMatch(/^[0-9]{8}$/);
    const code = second.count.code!;

    const [row] = await t.db.select().from(accessCodes).where(eq(accessCodes.purchaseId, second.count.purchase.id));
    expect(row).toMatchObject({ code, offerId: o.offer.id, callerNumber: caller, callsCounted: 2, redeemedAt: null });
    expect(row!.expiresAt.getTime() - row!.issuedAt.getTime()).toBe(86_400_000);

    // The call record shows the code the last call issued, and only there.
    const calls = await listCalls(t.db, { dialed: o.number, limit: 10 });
    expect(calls.map((c) => c.issuedCode)).toEqual([code, null]);

    const deliveries = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, o.merchant.id)).orderBy(asc(webhookDeliveries.id));
    expect(deliveries.map((d) => d.type)).toEqual(['code.issued']);
    const body = JSON.parse(deliveries[0]!.body);
    expect(body).toMatchObject({ type: 'code.issued', data: { offerId: o.offer.id, callsCounted: 2, redeemedAt: null } });
    expect(deliveries[0]!.body).not.toContain(code);

    await redeemCode(t.db, o.merchant.id, code, 'order-7');
    const after = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.merchantId, o.merchant.id)).orderBy(asc(webhookDeliveries.id));
    expect(after.map((d) => d.type)).toEqual(['code.issued', 'code.redeemed']);
    expect(JSON.parse(after[1]!.body)).toMatchObject({ data: { reference: 'order-7' } });
    expect(after[1]!.body).not.toContain(code);
  });

  it('refuse a withheld caller on a multi-call formula, unanswered; answer one on a single-call formula', async () => {
    const multi = await codeOffer(2);
    const refused = await simulateCall(t.db, { dialed: multi.number, caller: null });
    expect(refused.admission).toEqual({ action: 'reject', outcome: 'anonymous', language: 'fr' });
    expect(await t.db.select().from(purchases).where(eq(purchases.offerId, multi.offer.id))).toHaveLength(0);

    const single = await codeOffer(1);
    const a = await paidCall(single.number, null);
    const b = await paidCall(single.number, null);
    const codes = [a, b].map((r) => (r.count?.counted ? r.count.code : null));
    expect(codes[0]).toMatch(/^[0-9]{8}$/);
    expect(codes[1]).toMatch(/^[0-9]{8}$/);
    expect(codes[0]).not.toBe(codes[1]);
  });

  it('are per caller: two callers on one number each have their own', async () => {
    const o = await codeOffer(2);
    const [x, y] = [newCaller(), newCaller()];
    await paidCall(o.number, x);
    const yFirst = await paidCall(o.number, y);
    expect(yFirst.count).toMatchObject({ counted: true, completed: false });
    const xSecond = await paidCall(o.number, x);
    expect(xSecond.count).toMatchObject({ counted: true, completed: true });
  });

  it('restart when the window is over: the calls of a lapsed formula are lost', async () => {
    const o = await codeOffer(2, { formulaWindowSeconds: 600 });
    const caller = newCaller();
    const first = await paidCall(o.number, caller);
    const formulaId = first.count?.purchase?.id;
    const [opened] = await t.db.select().from(purchases).where(eq(purchases.id, formulaId!));
    expect(opened!.expiresAt.getTime() - opened!.createdAt.getTime()).toBe(600_000);
    // The window passes.
    await t.db.update(purchases).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(purchases.id, formulaId!));
    const next = await paidCall(o.number, caller);
    expect(next.count).toMatchObject({ counted: true, completed: false, purchase: { callsCounted: 1 } });
    expect(next.count?.purchase?.id).not.toBe(formulaId);
    const [old] = await t.db.select().from(purchases).where(eq(purchases.id, formulaId!));
    expect(old!.status).toBe('expired');
    // Within the window, the next call completes the new formula.
    expect((await paidCall(o.number, caller)).count).toMatchObject({ counted: true, completed: true });
  });

  it('share one formula between simultaneous first calls of one caller', async () => {
    const o = await codeOffer(3);
    const caller = newCaller();
    const admitted = await Promise.all([1, 2, 3].map(() => simulateCall(t.db, { dialed: o.number, caller, answer: false })));
    const ids = new Set(admitted.map((a) => (a.admission.action === 'answer_for_code' ? a.admission.purchaseId : null)));
    expect(ids.size).toBe(1);
    expect(await t.db.select().from(purchases).where(eq(purchases.offerId, o.offer.id))).toHaveLength(1);
  });
});

describe('codes', () => {
  it('are redeemed exactly once under 20 parallel redemptions', async () => {
    const { merchant, code } = await issuedCode();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => redeemCode(t.db, merchant.id, code, `r${i}`)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as LedgerError);
    expect(lost).toHaveLength(19);
    for (const e of lost) expect(e).toMatchObject({ code: 'code_already_used', extra: { redeemedAt: expect.any(String) } });
    const [row] = await t.db.select().from(accessCodes).where(eq(accessCodes.code, code));
    expect(row!.reference).toBe((won[0] as PromiseFulfilledResult<{ reference: string }>).value.reference);
  });

  it('are unique among unredeemed codes: a collision is drawn again; a redeemed value may come back', async () => {
    const first = await issuedCode();
    const again = await codeOffer(1);
    // The next draw repeats the unredeemed code: the ledger draws again.
    scriptedDraws.push(Number(first.code), 12_345_678);
    const r = await paidCall(again.number, newCaller());
    expect(r.count?.counted && r.count.code).toBe('12345678');
    // The database itself refuses a second unredeemed row with one value.
    await expect(t.db.execute(sql`insert into access_codes (code, merchant_id, offer_id, purchase_id, dialed_number, calls_counted, expires_at)
      select code, merchant_id, offer_id, gen_random_uuid(), dialed_number, 1, now() from access_codes where code = '12345678'`)).rejects.toThrow();
    // Once redeemed, the value is free again.
    await redeemCode(t.db, again.merchant.id, '12345678', null);
    scriptedDraws.push(12_345_678);
    const reissued = await paidCall((await codeOffer(1)).number, newCaller());
    expect(reissued.count?.counted && reissued.count.code).toBe('12345678');
  });

  it('answer 404 (unknown, another merchant), 409 (used), 410 (expired); checking does not consume', async () => {
    const { merchant, code } = await issuedCode();
    const other = await issuedCode();
    await expect(redeemCode(t.db, merchant.id, other.code, null)).rejects.toMatchObject({ code: 'code_not_found' });
    await expect(redeemCode(t.db, merchant.id, 'abc', null)).rejects.toMatchObject({ code: 'code_not_found' });
    expect(await checkCode(t.db, merchant.id, code)).toMatchObject({ code, status: 'valid', redeemedAt: null });
    const redeemed = await redeemCode(t.db, merchant.id, code, 'ref');
    expect(redeemed).toMatchObject({ code, status: 'redeemed', reference: 'ref', callsCounted: 1 });
    await expect(redeemCode(t.db, merchant.id, code, null)).rejects.toMatchObject({ code: 'code_already_used', extra: { redeemedAt: redeemed.redeemedAt } });
    expect(await checkCode(t.db, merchant.id, code)).toMatchObject({ status: 'redeemed' });

    const expiring = await issuedCode();
    await t.db.update(accessCodes).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(accessCodes.code, expiring.code));
    await expect(redeemCode(t.db, expiring.merchant.id, expiring.code, null)).rejects.toMatchObject({ code: 'code_expired' });
    expect(await checkCode(t.db, expiring.merchant.id, expiring.code)).toMatchObject({ status: 'expired' });
  });

  it(`bound a merchant's failed redemptions to ${REDEEM_FAILURES_PER_WINDOW} an hour (429 with Retry-After)`, async () => {
    const { merchant, code } = await issuedCode();
    // One short of the bound, 50 minutes ago and now: still allowed.
    await t.db.insert(codeRedeemFailures).values(Array.from({ length: REDEEM_FAILURES_PER_WINDOW - 1 }, () => ({ merchantId: merchant.id, failedAt: sql`now() - interval '50 minutes'` })));
    await expect(redeemCode(t.db, merchant.id, '00000000', null)).rejects.toMatchObject({ code: 'code_not_found' });
    // The bound is reached: even a good code waits, until the oldest failure leaves the hour.
    const err = await redeemCode(t.db, merchant.id, code, null).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'too_many_failed_redemptions' });
    const retry = (err as LedgerError).extra.retryAfterSeconds as number;
    expect(retry).toBeGreaterThan(500);
    expect(retry).toBeLessThanOrEqual(600);
    await expect(checkCode(t.db, merchant.id, code)).rejects.toMatchObject({ code: 'too_many_failed_redemptions' });
    // Another merchant is not affected.
    const other = await issuedCode();
    await expect(redeemCode(t.db, other.merchant.id, other.code, null)).resolves.toMatchObject({ status: 'redeemed' });
    // The old failures leave the window: the merchant can redeem again.
    await t.db.update(codeRedeemFailures).set({ failedAt: sql`now() - interval '2 hours'` }).where(eq(codeRedeemFailures.merchantId, merchant.id));
    await expect(redeemCode(t.db, merchant.id, code, null)).resolves.toMatchObject({ status: 'redeemed' });
  });

  it('are found by the operator by caller and offer', async () => {
    const o = await codeOffer(1);
    const caller = newCaller();
    const r = await paidCall(o.number, caller);
    const code = r.count?.counted ? r.count.code : null;
    expect((await listCodes(t.db, { caller, limit: 10 })).map((c) => c.code)).toEqual([code]);
    expect(await listCodes(t.db, { offerId: o.offer.id, limit: 10 })).toMatchObject([{ code, callerNumber: caller, dialedNumber: o.number, status: 'valid' }]);
  });
});

describe('access codes over HTTP', () => {
  it('creates an offer with the defaults, redeems once (200 then 409), checks, and lists for the operator', async () => {
    const m = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Voyance' } });
    const offer = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: m.body.id, name: 'Consultation', mode: 'access_code', callsRequired: 1, minCallSeconds: 0, numbers: ['08 99 50 00 01'], language: 'fr' },
    });
    expect(offer.status).toBe(201);
    expect(offer.body).toMatchObject({ mode: 'access_code', codeTtlSeconds: 86_400, formulaWindowSeconds: 3_600, numbers: ['+33899500001'] });
    const tooLong = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: m.body.id, name: 'x', mode: 'access_code', callsRequired: 1, minCallSeconds: 0, numbers: ['0899500002'], language: 'fr', codeTtlSeconds: 32 * 86_400 },
    });
    expect(tooLong.status).toBe(400);
    const ttlOnCallerId = await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: m.body.id, name: 'x', mode: 'caller_id', callsRequired: 1, minCallSeconds: 0, numbers: ['0899500003'], language: 'fr', purchaseTtlSeconds: 600, codeTtlSeconds: 600 },
    });
    expect(ttlOnCallerId.status).toBe(400);
    const purchase = await http.request('POST', '/v1/purchases', { token: m.body.apiKey, body: { offerId: offer.body.id } });
    expect(purchase.status).toBe(409);

    const caller = newCaller();
    const r = await paidCall('+33899500001', caller);
    const code = r.count?.counted ? r.count.code! : '';

    const listed = await http.request('GET', `/v1/admin/codes?caller=${encodeURIComponent(caller)}`, { token: ADMIN });
    expect(listed.status).toBe(200);
    expect(listed.body.codes).toMatchObject([{ code, offerId: offer.body.id, status: 'valid' }]);
    const calls = await http.request('GET', '/v1/admin/calls?dialed=0899500001', { token: ADMIN });
    expect(calls.body.calls[0].issuedCode).toBe(code);

    const checked = await http.request('GET', `/v1/codes/${code}`, { token: m.body.apiKey });
    expect(checked).toMatchObject({ status: 200, body: { code, status: 'valid' } });
    const redeemed = await http.request('POST', '/v1/codes/redeem', { token: m.body.apiKey, body: { code, reference: 'order-1' } });
    expect(redeemed).toMatchObject({ status: 200, body: { code, offerId: offer.body.id, status: 'redeemed', callsCounted: 1, reference: 'order-1' } });
    const again = await http.request('POST', '/v1/codes/redeem', { token: m.body.apiKey, body: { code } });
    expect(again).toMatchObject({ status: 409, body: { type: 'urn:sanscode:problem:code-already-used', redeemedAt: redeemed.body.redeemedAt } });

    const stranger = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Autre' } });
    expect((await http.request('POST', '/v1/codes/redeem', { token: stranger.body.apiKey, body: { code } })).status).toBe(404);
    expect((await http.request('GET', `/v1/codes/${code}`, { token: stranger.body.apiKey })).status).toBe(404);
    expect((await http.request('POST', '/v1/codes/redeem', { token: m.body.apiKey, body: {} })).status).toBe(400);
  });

  it('answers 410 for an expired code and 429 with Retry-After past the failure bound', async () => {
    const m = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: 'Horoscope' } });
    await http.request('POST', '/v1/admin/offers', {
      token: ADMIN,
      body: { merchantId: m.body.id, name: 'Jour', mode: 'access_code', callsRequired: 1, minCallSeconds: 0, numbers: ['0899500011'], language: 'en', codeTtlSeconds: 60 },
    });
    const r = await paidCall('+33899500011', newCaller());
    const code = r.count?.counted ? r.count.code! : '';
    await t.db.update(accessCodes).set({ expiresAt: sql`now()` }).where(eq(accessCodes.code, code));
    const expired = await http.request('POST', '/v1/codes/redeem', { token: m.body.apiKey, body: { code } });
    expect(expired).toMatchObject({ status: 410, body: { type: 'urn:sanscode:problem:code-expired' } });
    await t.db.insert(codeRedeemFailures).values(Array.from({ length: REDEEM_FAILURES_PER_WINDOW }, () => ({ merchantId: m.body.id as string })));
    const limited = await http.request('POST', '/v1/codes/redeem', { token: m.body.apiKey, body: { code: '11111111' } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(3500);
  });
});
