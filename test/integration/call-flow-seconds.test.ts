// The per-second call flow (ivr/scripts/pay-per-second.ts) over an in-memory Telephony and a
// real PostgreSQL, in real time: what the caller hears, when the IVR hangs up, what is credited.
// The real-Asterisk proof is test/e2e/per-second.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchase, getCall, getPurchase, setNumberSettings } from '../../db/ledger/index.js';
import { CallFlow } from '../../ivr/call-flow.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTelephony, flowOnFakePhone, incomingCall } from '../support/fake-telephony.js';
import { provision } from '../support/fixtures.js';

let t: TestDatabase;
let phone: FakeTelephony;
let flow: CallFlow;
beforeAll(async () => {
  t = await createTestDatabase();
  ({ phone, flow } = flowOnFakePhone(t.db));
});
afterAll(async () => {
  await t?.drop();
});

const call = incomingCall;

async function perSecond(number: string, caller: string, secondsRequired: number) {
  const { merchant, offer } = await provision(t.db, { numbers: [number], unit: 'second', secondsRequired, callsRequired: 1, minCallSeconds: 0 });
  const purchase = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
  return { merchant, purchase };
}

describe('per-second call flow', { timeout: 30_000 }, () => {
  it('says the time left, confirms 3 s before the target and hangs up there, crediting the target', async () => {
    const { merchant, purchase } = await perSecond('+33899200001', '+33671000001', 9);
    const started = performance.now();
    await flow.callStarted(call('s1', '0899200001', '0671000001'));
    const took = (performance.now() - started) / 1000;
    expect(phone.of('s1')).toEqual(['progress', 'answer', 'play[fr] sound:sanscode/time-remaining number:9 sound:sanscode/seconds', 'play[fr] sound:sanscode/seconds-confirmed', 'hangup normal']);
    expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ status: 'completed', secondsCounted: 9, secondsRemaining: 0 });
    // Confirmation at 6 s; the prompt (instant here) and the hang-up then fit in the last 3 s.
    expect(took).toBeGreaterThanOrEqual(6);
    expect(took).toBeLessThan(9);
    const record = await getCall(t.db, 's1');
    expect(record).toMatchObject({ outcome: 'counted', secondsCredited: 9 });
    expect(record!.answeredSeconds).toBeGreaterThanOrEqual(6);
    expect(record!.answeredSeconds).toBeLessThan(9);
  });

  it('plays the price announcement free, before the answer', async () => {
    await perSecond('+33899200002', '+33671000002', 2);
    await setNumberSettings(t.db, { number: '+33899200002', priceAnnouncement: 'sanscode/price-0-80' });
    await flow.callStarted(call('s2', '0899200002', '0671000002'));
    expect(phone.of('s2')).toEqual(['progress', 'play[fr] sound:sanscode/price-0-80', 'answer', 'play[fr] sound:sanscode/seconds-confirmed', 'hangup normal']);
  });

  it("loops the number's hold sound between announcements, cut before the confirmation", async () => {
    const { merchant, purchase } = await perSecond('+33899200004', '+33671000004', 8);
    await setNumberSettings(t.db, { number: '+33899200004', holdSound: 'sanscode/hold-music' });
    // Sounds that take time, on a telephony of their own: the hold sound must be cut, not queued.
    const slow = flowOnFakePhone(t.db);
    slow.phone.playMs = 700;
    await slow.flow.callStarted(call('h1', '0899200004', '0671000004'));
    const heard = slow.phone.of('h1');
    expect(heard.slice(0, 3)).toEqual(['progress', 'answer', 'play[fr] sound:sanscode/time-remaining number:8 sound:sanscode/seconds']);
    expect(heard.slice(-2)).toEqual(['play[fr] sound:sanscode/seconds-confirmed', 'hangup normal']);
    // From 0.7 s to the confirmation at 5 s: the hold sound, again and again.
    const between = heard.slice(3, -2);
    expect(between.length).toBeGreaterThanOrEqual(4);
    expect(new Set(between)).toEqual(new Set(['play[fr] sound:sanscode/hold-music']));
    expect(slow.phone.cancelledPlays).toEqual(['h1 sound:sanscode/hold-music']);
    expect(slow.phone.overlapped.has('h1')).toBe(false);
    expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ status: 'completed', secondsCounted: 8 });
  });

  it('goes on in silence when the hold sound cannot be played', async () => {
    const { merchant, purchase } = await perSecond('+33899200005', '+33671000005', 7);
    await setNumberSettings(t.db, { number: '+33899200005', holdSound: 'sanscode/missing-file' });
    // 7 s: no announcement fits before the confirmation at 4 s, so the hold sound starts at once.
    phone.failAt('h2', 2, 'unreachable');
    await flow.callStarted(call('h2', '0899200005', '0671000005'));
    expect(phone.of('h2')).toEqual(['progress', 'answer', 'play[fr] sound:sanscode/missing-file -> unreachable', 'play[fr] sound:sanscode/seconds-confirmed', 'hangup normal']);
    expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ status: 'completed', secondsCounted: 7 });
  });

  it('keeps the seconds of a caller who hangs up, and refuses a simultaneous call on the purchase', async () => {
    const { merchant, purchase } = await perSecond('+33899200003', '+33671000003', 60);
    const running = flow.callStarted(call('s3', '0899200003', '0671000003'));
    await new Promise((r) => setTimeout(r, 600));
    await flow.callStarted(call('s3-bis', '0899200003', '0671000003'));
    expect(phone.of('s3-bis')).toEqual(['progress', 'play[fr] sound:sanscode/call-in-progress', 'hangup busy']);
    await new Promise((r) => setTimeout(r, 1000));
    phone.callerHangsUp('s3');
    await running;
    expect(phone.of('s3')).toEqual(['progress', 'answer', 'play[fr] sound:sanscode/time-remaining number:1 sound:sanscode/minute']);
    const record = await getCall(t.db, 's3');
    expect(record).toMatchObject({ outcome: 'counted' });
    expect(record!.secondsCredited).toBe(record!.answeredSeconds);
    expect(record!.secondsCredited).toBeGreaterThanOrEqual(1);
    expect(await getPurchase(t.db, merchant.id, purchase.id)).toMatchObject({ status: 'pending', secondsCounted: record!.secondsCredited });
    expect(flow.activeCalls).toBe(0);
  });
});
