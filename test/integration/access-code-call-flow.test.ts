// The access-code script over an in-memory Telephony and a real PostgreSQL: calls remaining at
// the earlier calls, the code read twice digit by digit at the last one, `*` to hear it again
// (bounded), and a withheld caller refused unanswered on a multi-call formula. The same paths
// through the real Asterisk are in test/e2e/access-code.test.ts (all but `*`: see there).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCall, listCodes } from '../../db/ledger/index.js';
import { MAX_CODE_REPEATS } from '../../domain/index.js';
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
const codeOffer = (number: string, callsRequired: number, language: 'fr' | 'en' = 'fr') =>
  provision(t.db, { mode: 'access_code', numbers: [number], callsRequired, minCallSeconds: 0, purchaseTtlSeconds: null, codeTtlSeconds: 86_400, formulaWindowSeconds: 3_600, language });

describe('access-code calls', () => {
  it('say the calls remaining, then read the code twice at the last call', async () => {
    await codeOffer('+33899600001', 2, 'en');
    await flow.callStarted(call('ac1', '0899600001', '0611600001'));
    expect(phone.of('ac1')).toEqual([
      'progress',
      'answer',
      'play[en] sound:sanscode/calls-remaining-prefix number:2 sound:sanscode/calls-remaining-suffix sound:sanscode/please-hold',
      'play[en] sound:sanscode/calls-remaining-one sound:sanscode/call-counted',
      'hangup normal',
    ]);
    await flow.callStarted(call('ac2', '0899600001', '0611600001'));
    const [issued] = await listCodes(t.db, { caller: '+33611600001', limit: 1 });
    const code = issued!.code;
    expect(phone.of('ac2')).toEqual([
      'progress',
      'answer',
      'play[en] sound:sanscode/calls-remaining-one sound:sanscode/please-hold',
      `play[en] sound:sanscode/code-intro digits:${code} sound:sanscode/code-again digits:${code} sound:sanscode/code-repeat-star`,
      'digit none',
      'play[en] sound:sanscode/code-goodbye',
      'hangup normal',
    ]);
    expect(await getCall(t.db, 'ac2')).toMatchObject({ outcome: 'counted' });
  });

  it('reads the code again on *, at most a few times, and ignores other keys', async () => {
    await codeOffer('+33899600002', 1);
    phone.pressKeys('star', ['*', '*', '*', '*', '*']);
    await flow.callStarted(call('star', '0899600002', '0611600002'));
    const [issued] = await listCodes(t.db, { caller: '+33611600002', limit: 1 });
    const repeat = `play[fr] sound:sanscode/code-intro digits:${issued!.code} sound:sanscode/code-repeat-star`;
    const verbs = phone.of('star');
    expect(verbs.filter((v) => v === repeat)).toHaveLength(MAX_CODE_REPEATS);
    expect(verbs.slice(-2)).toEqual(['play[fr] sound:sanscode/code-goodbye', 'hangup normal']);

    await codeOffer('+33899600003', 1);
    phone.pressKeys('hash', ['#', '*']);
    await flow.callStarted(call('hash', '0899600003', '0611600003'));
    expect(phone.of('hash').filter((v) => v.includes('code-intro'))).toHaveLength(1);
    expect(phone.of('hash')).toContain('digit #');
  });

  it('refuses a withheld caller on a multi-call formula with early media, never answering', async () => {
    await codeOffer('+33899600004', 2);
    await flow.callStarted(call('anon', '0899600004', 'anonymous'));
    expect(phone.of('anon')).toEqual(['progress', 'play[fr] sound:sanscode/caller-id-withheld', 'hangup busy']);
    expect(await getCall(t.db, 'anon')).toMatchObject({ outcome: 'anonymous', answeredAt: null });
  });
});
