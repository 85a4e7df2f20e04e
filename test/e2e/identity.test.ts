// End to end (issue 13): real SIP calls (SIPp) through Asterisk to the IVR. A caller hears
// whom they pay before any 200 OK; with pending purchases at two merchants on one number the
// most recent is credited and its merchant is the one announced; a caller who hangs up during
// the identity prompt is never answered (no 200 OK) and the purchase is marked disputed.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeCall } from '../../scripts/lib/sipp.js';
import { ADMIN, startE2eStack, type E2eStack } from '../support/stack.js';

let s: E2eStack;
beforeAll(async () => {
  s = await startE2eStack('identity');
});
afterAll(async () => {
  await s?.stop();
});

/** Seconds a shipped French prompt lasts (8 kHz, 16-bit mono wav: 16000 bytes a second after the header). */
const secondsOf = (sound: string) => (statSync(path.resolve(import.meta.dirname, `../../asterisk-conf/sounds/fr/${sound}.wav`)).size - 44) / 16000;

async function merchant(name: string, nameSound: string) {
  const m = (await s.http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name } })).body as { id: string; apiKey: string };
  expect((await s.http.request('PUT', `/v1/admin/merchants/${m.id}/name-sound`, { token: ADMIN, body: { sound: nameSound } })).status).toBe(200);
  return m;
}

async function offerOf(merchantId: string, number: string) {
  const res = await s.http.request('POST', '/v1/admin/offers', {
    token: ADMIN,
    body: { merchantId, name: 'Article', mode: 'caller_id', callsRequired: 1, minCallSeconds: 1, numbers: [number], purchaseTtlSeconds: 600, language: 'fr' },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function purchase(key: string, offerId: string, callerNumber: string) {
  const res = await s.http.request('POST', '/v1/purchases', { token: key, body: { offerId, callerNumber } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

const read = async (key: string, id: string) => (await s.http.request('GET', `/v1/purchases/${id}`, { token: key })).body;

/** The IVR's "identity prompt" log lines: which purchase's names each call was told. */
function identityLines(): { channelId: string; purchaseId: string; identity: { merchantNameSound: string | null; offerNameSound: string | null } }[] {
  return readFileSync('test-artifacts/e2e-identity.log', 'utf8')
    .split('\n')
    .filter((l) => l.includes('"identity prompt"'))
    .map((l) => JSON.parse(l));
}

describe('whom the caller pays, through Asterisk', { timeout: 120_000 }, () => {
  it('credits the most recent of two merchants’ purchases on one number, after telling the caller that merchant, before any 200 OK', async () => {
    const a = await merchant('Shop A', 'sanscode/call-counted');
    const b = await merchant('Shop B', 'sanscode/please-hold');
    const number = '0899102000';
    const atA = await purchase(a.apiKey, await offerOf(a.id, number), '0612345620');
    const atB = await purchase(b.apiKey, await offerOf(b.id, number), '0612345620');

    const call = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: number, caller: '33612345620' });
    expect(call, call.errors).toMatchObject({ exitCode: 0 });
    const [record] = await s.closedCalls('+33899102000', 1);
    expect(record).toMatchObject({ outcome: 'counted', purchase_id: atB.id });
    expect(await read(b.apiKey, atB.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    expect(await read(a.apiKey, atA.id)).toMatchObject({ status: 'pending', callsCounted: 0 });

    // The caller was told B (its recorded name), for the purchase that was credited.
    const told = identityLines().filter((l) => l.purchaseId === atB.id);
    expect(told).toHaveLength(1);
    expect(told[0]!.identity).toEqual({ merchantNameSound: 'sanscode/please-hold', offerNameSound: null });
    expect(identityLines().some((l) => l.purchaseId === atA.id)).toBe(false);

    // No 200 OK before the whole identity prompt was played.
    const prompt = secondsOf('sanscode/identity-purchase-made-on') + secondsOf('sanscode/please-hold') + secondsOf('sanscode/identity-hang-up-if-not-yours');
    const [timing] = (await s.t.db.execute(
      sql`select extract(epoch from answered_at - started_at)::float8 as unbilled from calls where dialed_number = '+33899102000'`,
    )) as unknown as { unbilled: number }[];
    expect(timing!.unbilled).toBeGreaterThan(prompt - 0.2);

    // B is completed: the next call pays A, and the caller is told A.
    const next = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: number, caller: '33612345620' });
    expect(next, next.errors).toMatchObject({ exitCode: 0 });
    const records = await s.closedCalls('+33899102000', 2);
    expect(records[1]).toMatchObject({ outcome: 'counted', purchase_id: atA.id });
    expect(identityLines().find((l) => l.purchaseId === atA.id)?.identity.merchantNameSound).toBe('sanscode/call-counted');
  });

  it('never answers a caller who hangs up during the identity prompt, and marks the purchase disputed', async () => {
    const number = '0899102100';
    const p = await purchase(s.merchantKey, await s.createOffer({ mode: 'caller_id', callsRequired: 1, minCallSeconds: 1, numbers: [number], purchaseTtlSeconds: 600 }), '0612345621');
    // CANCEL 3 s into the early media: the generic identity prompt lasts about 9 s.
    const call = await placeCall({ scenario: 'uac-chaos-cancel', dialed: number, caller: '33612345621', holdMs: 3000 });
    expect(call, call.errors).toMatchObject({ exitCode: 0, saw: 'refused' });
    const [record] = await s.closedCalls('+33899102100', 1);
    expect(record).toMatchObject({ outcome: 'disputed', answered_at: null, purchase_id: p.id });
    const after = await s.readPurchase(p.id);
    expect(after).toMatchObject({ status: 'pending', callsCounted: 0 });
    expect(after.disputedAt).not.toBeNull();
    const events = (await s.t.db.execute(sql`select type from purchase_events where purchase_id = ${p.id} and type = 'disputed'`)) as unknown as unknown[];
    expect(events).toHaveLength(1);
  });
});
