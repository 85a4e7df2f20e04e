// The call flow over an in-memory Telephony and a real PostgreSQL: which verbs each kind of
// call gets. The real-Asterisk proof of the same paths is in test/e2e.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admitCall, countCall, createPurchase, getCall, getPurchase, markAnswered, setMerchantNameSound, setNumberSettings, setOfferNameSound } from '../../db/ledger/index.js';
import { CallFlow } from '../../ivr/call-flow.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTelephony, flowOnFakePhone, incomingCall } from '../support/fake-telephony.js';
import { provision } from '../support/fixtures.js';
import { waitFor } from '../support/wait.js';

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
/** The identity prompt of a purchase whose merchant and offer have no recorded name. */
const GENERIC_IDENTITY = 'play[fr] sound:sanscode/identity-purchase-generic sound:sanscode/identity-hang-up-if-not-yours';

describe('call flow', () => {
  it('refuses a withheld caller with early media and never answers', async () => {
    await provision(t.db, { numbers: ['+33899100001'], language: 'en' });
    await flow.callStarted(call('anon', '0899100001', 'anonymous'));
    expect(phone.of('anon')).toEqual(['progress', 'play[en] sound:sanscode/caller-id-withheld', 'hangup busy']);
    // The record is closed when callStarted returns, with the cause Asterisk reported.
    expect(await getCall(t.db, 'anon')).toMatchObject({ outcome: 'anonymous', hangupCause: 17, answeredAt: null });
  });

  it('answers a buyer, counts after the minimum and confirms the purchase', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100002'], callsRequired: 2, minCallSeconds: 1 });
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33611111111' });
    await flow.callStarted(call('b1', '33899100002', '0611111111'));
    expect(phone.of('b1')).toEqual([
      'progress',
      GENERIC_IDENTITY,
      'answer',
      'play[fr] sound:sanscode/calls-remaining-prefix number:2 sound:sanscode/calls-remaining-suffix sound:sanscode/please-hold',
      'play[fr] sound:sanscode/calls-remaining-one sound:sanscode/call-counted',
      'hangup normal',
    ]);
    await flow.callStarted(call('b2', '+33899100002', '+33611111111'));
    expect(phone.of('b2').slice(-2)).toEqual(['play[fr] sound:sanscode/purchase-confirmed', 'hangup normal']);
    expect(await getPurchase(t.db, merchant.id, p.id)).toMatchObject({ status: 'completed', callsCounted: 2 });
    expect((await getCall(t.db, 'b2'))?.answeredSeconds).toBeGreaterThanOrEqual(1);
  });

  it('plays the number price announcement as free early media, before answering', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100005'], minCallSeconds: 0 });
    await setNumberSettings(t.db, { number: '+33899100005', priceAnnouncement: 'sanscode/price-2-99' });
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33644444444' });
    await flow.callStarted(call('priced', '0899100005', '0644444444'));
    expect(phone.of('priced').slice(0, 4)).toEqual(['progress', 'play[fr] sound:sanscode/price-2-99', GENERIC_IDENTITY, 'answer']);
  });

  it('records too_short when the caller hangs up before the minimum', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100003'], minCallSeconds: 30 });
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33622222222' });
    const running = flow.callStarted(call('short', '0899100003', '0622222222'));
    await waitFor('the greeting to start', () => phone.of('short').some((v) => v.includes('calls-remaining')));
    phone.callerHangsUp('short');
    await running;
    expect(phone.of('short')).toEqual(['progress', GENERIC_IDENTITY, 'answer', expect.stringContaining('calls-remaining-one')]);
    expect(await getCall(t.db, 'short')).toMatchObject({ outcome: 'too_short' });
    expect(await getPurchase(t.db, merchant.id, p.id)).toMatchObject({ callsCounted: 0, status: 'pending' });
    expect(flow.activeCalls).toBe(0);
  });

  it("takes the answer back when the call's end says the caller's CANCEL crossed it", async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100013'], minCallSeconds: 30 });
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33622222223' });
    const running = flow.callStarted(call('crossed', '0899100013', '0622222223'));
    await waitFor('the greeting to start', () => phone.of('crossed').some((v) => v.includes('calls-remaining')));
    phone.cancelCrossedAnswer('crossed');
    await running;
    expect(await getCall(t.db, 'crossed')).toMatchObject({ outcome: 'abandoned', answeredAt: null, answeredSeconds: null, hangupCause: 127 });
    expect(await getPurchase(t.db, merchant.id, p.id)).toMatchObject({ callsCounted: 0, status: 'pending' });
  });

  it('sends the 183 as the call arrives, before the ledger decides, and only once', async () => {
    await provision(t.db, { numbers: ['+33899100020'] });
    const running = flow.callStarted(call('early', '0899100020', '0612000020'));
    // Nothing awaited yet: the ledger has not answered, the 183 is already on its way.
    expect(phone.of('early')).toEqual(['progress']);
    await running;
    // No purchase for this caller: the refusal's own progress() is that same 183.
    expect(phone.of('early')).toEqual(['progress', 'play[fr] sound:sanscode/no-pending-purchase', 'hangup busy']);
  });

  it('goes on when the early 183 fails, the caller having left already', async () => {
    await provision(t.db, { numbers: ['+33899100021'] });
    phone.failAt('left', 0, 'gone');
    await flow.callStarted(call('left', '0899100021', '0612000021'));
    expect(phone.of('left')).toEqual(['progress -> 404']);
    expect(await getCall(t.db, 'left')).toMatchObject({ outcome: 'no_purchase' });
    expect(flow.activeCalls).toBe(0);
  });

  it('only says goodbye to a call counted while the IVR was away', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100006'], callsRequired: 2, minCallSeconds: 0 });
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33655555555' });
    const facts = { channelId: 'settled', asteriskId: 'node-1', dialedRaw: '0899100006', dialed: '+33899100006', callerRaw: '0655555555', caller: '+33655555555' };
    await admitCall(t.db, facts, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    await markAnswered(t.db, 'settled');
    await countCall(t.db, 'settled'); // by the previous IVR, which then died
    const restarted = new CallFlow(t.db, phone, pino({ level: 'silent' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
    phone.onEnded = (info) => void restarted.callEnded(info);
    // As resync() takes it up: a channel found in the application after a restart, no 183.
    await restarted.callStarted(call('settled', '0899100006', '0655555555'), { resumed: true });
    phone.onEnded = (info) => void flow.callEnded(info);
    expect(phone.of('settled')).toEqual(['play[fr] sound:sanscode/calls-remaining-one sound:sanscode/call-counted', 'hangup normal']);
    expect(await getCall(t.db, 'settled')).toMatchObject({ outcome: 'counted' });
  });

  it('stops following its calls on shutdown, leaving them to the next IVR', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100007'], minCallSeconds: 30 });
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33666666666' });
    const leaving = new CallFlow(t.db, phone, pino({ level: 'silent' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
    const running = leaving.callStarted(call('handed-over', '0899100007', '0666666666'));
    await waitFor('the greeting to start', () => phone.of('handed-over').some((v) => v.includes('calls-remaining')));
    leaving.stop();
    await running;
    expect(phone.of('handed-over')).toEqual(['progress', GENERIC_IDENTITY, 'answer', expect.stringContaining('calls-remaining-one')]);
    expect(await getCall(t.db, 'handed-over')).toMatchObject({ outcome: 'in_progress', endedAt: null });
  });

  it('closes calls lost while away and resumes live ones after a reconnect', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100004'], minCallSeconds: 0 });
    await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33633333333' });
    // A call recorded by a previous IVR process whose channel is gone...
    const previous = new CallFlow(t.db, phone, pino({ level: 'silent' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
    phone.playMs = 60_000;
    const deciding = previous.callStarted(call('gone', '0899999999', '0633333333')); // unknown number: refused...
    await waitFor('the refusal to play', () => phone.of('gone').some((v) => v.startsWith('play')));
    previous.stop(); // ...and the process died while the refusal played
    await deciding;
    phone.playMs = 0;
    expect((await getCall(t.db, 'gone'))?.endedAt).toBeNull();
    // ...and one still up in Asterisk that this process never saw.
    const restarted = new CallFlow(t.db, phone, pino({ level: 'silent' }), { defaultRegion: 'FR', defaultLanguage: 'fr', maxCallSeconds: 3600 });
    phone.onEnded = (info) => void restarted.callEnded(info);
    phone.live = [call('still-up', '0899100004', '0633333333')];
    await restarted.resync('node-1');
    await waitFor('the resumed call to end', () => phone.of('still-up').includes('hangup normal') && restarted.activeCalls === 0);
    phone.onEnded = (info) => void flow.callEnded(info);
    expect((await getCall(t.db, 'gone'))?.endedAt).not.toBeNull();
    expect(phone.of('still-up')).toEqual(['progress', GENERIC_IDENTITY, 'answer', expect.any(String), 'play[fr] sound:sanscode/purchase-confirmed', 'hangup normal']);
  });

  it('tells the caller whose purchase the call pays, and pays that one: the most recent of two merchants', async () => {
    const a = await provision(t.db, { numbers: ['+33899100009'] }, 'A');
    const b = await provision(t.db, { numbers: ['+33899100009'] }, 'B');
    await setMerchantNameSound(t.db, a.merchant.id, 'names/a');
    await setMerchantNameSound(t.db, b.merchant.id, 'names/b');
    await setOfferNameSound(t.db, b.offer.id, 'names/b-article');
    const atA = await createPurchase(t.db, a.merchant.id, { offerId: a.offer.id, callerNumber: '+33677777777' });
    const atB = await createPurchase(t.db, b.merchant.id, { offerId: b.offer.id, callerNumber: '+33677777777' });
    await flow.callStarted(call('two-shops', '0899100009', '0677777777'));
    expect(phone.of('two-shops').slice(0, 3)).toEqual([
      'progress',
      'play[fr] sound:sanscode/identity-purchase-made-on sound:names/b sound:sanscode/identity-purchase-for sound:names/b-article sound:sanscode/identity-hang-up-if-not-yours',
      'answer',
    ]);
    expect(await getCall(t.db, 'two-shops')).toMatchObject({ outcome: 'counted', purchaseId: atB.id });
    expect(await getPurchase(t.db, a.merchant.id, atA.id)).toMatchObject({ status: 'pending', callsCounted: 0 });
  });

  it('never answers a caller who hangs up during the identity prompt, and marks the purchase disputed', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100010'], minCallSeconds: 0 });
    const p = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33688888888' });
    phone.playMs = 60_000;
    const running = flow.callStarted(call('not-mine', '0899100010', '0688888888'));
    await new Promise((r) => setTimeout(r, 300));
    phone.callerHangsUp('not-mine');
    await running;
    phone.playMs = 0;
    expect(phone.of('not-mine')).toEqual(['progress', GENERIC_IDENTITY]);
    expect(await getCall(t.db, 'not-mine')).toMatchObject({ outcome: 'disputed', answeredAt: null });
    const after = await getPurchase(t.db, merchant.id, p.id);
    expect(after).toMatchObject({ status: 'pending', callsCounted: 0 });
    expect(after!.disputedAt).not.toBeNull();
  });

  it('tells a prompt cut by the hang-up (Asterisk reports it failed) from a broken prompt', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: ['+33899100011'], minCallSeconds: 0 });
    const cut = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33699999991' });
    const broken = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33699999992' });
    // As Asterisk does: PlaybackFinished (failed), then the end of the channel.
    phone.failAt('cut', 1, 'unreachable');
    const running = flow.callStarted(call('cut', '0899100011', '0699999991'));
    setTimeout(() => phone.callerHangsUp('cut'), 100);
    await running;
    expect(await getCall(t.db, 'cut')).toMatchObject({ outcome: 'disputed' });
    expect((await getPurchase(t.db, merchant.id, cut.id))?.disputedAt).not.toBeNull();
    // The prompt could not be played and the caller stays: refused unanswered, nobody disputes.
    phone.failAt('broken', 1, 'unreachable');
    await flow.callStarted(call('broken', '0899100011', '0699999992'));
    expect(phone.of('broken')).not.toContain('answer');
    expect(await getCall(t.db, 'broken')).toMatchObject({ outcome: 'abandoned' });
    expect((await getPurchase(t.db, merchant.id, broken.id))?.disputedAt).toBeNull();
  });
});
