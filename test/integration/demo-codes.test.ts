// The demo site's third way to pay, "J'ai un code": its number, and its backend redeeming the
// code a caller heard (once; a second try is refused), with no API key anywhere.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../api/app.js';
import { endCall } from '../../db/ledger/index.js';
import { DEMO_ACCESS_CODE_NUMBER } from '../../demo/routes.js';
import { simulateCall } from '../support/calls.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Http } from '../support/http.js';

let t: TestDatabase;
let http: Http;
beforeAll(async () => {
  t = await createTestDatabase();
  http = await listen(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: undefined, defaultRegion: 'FR', listen: t.listen, demo: true }));
});
afterAll(async () => {
  await http?.close();
  await t?.drop();
});

describe('demo "J\'ai un code"', () => {
  it('shows the number, redeems the code heard at the second call once, and refuses a wrong one', async () => {
    const offer = await http.request('GET', '/demo/api/code-offer');
    expect(offer.body).toMatchObject({ numberToCall: DEMO_ACCESS_CODE_NUMBER, callsRequired: 2 });
    const page = await http.request('GET', '/demo');
    expect(page.body).toContain('J’ai un code');

    // Two calls of 3 s minimum from one caller, as the IVR would count them (minimum by the DB clock).
    const caller = '+33612300001';
    let code: string | undefined;
    for (let i = 0; i < 2; i++) {
      const r = await simulateCall(t.db, { dialed: DEMO_ACCESS_CODE_NUMBER, caller, count: false });
      await new Promise((resolve) => setTimeout(resolve, 3_100));
      const ended = await endCall(t.db, r.facts.channelId, { cause: 16 });
      if (ended.count?.counted) code = ended.count.code;
    }
    expect(code).toMatch(/^[0-9]{8}$/);

    expect((await http.request('POST', '/demo/api/codes/redeem', { body: { code: '00000000' === code ? '11111111' : '00000000' } })).status).toBe(404);
    expect((await http.request('POST', '/demo/api/codes/redeem', { body: {} })).status).toBe(400);
    const spaced = `${code!.slice(0, 4)} ${code!.slice(4)}`;
    const ok = await http.request('POST', '/demo/api/codes/redeem', { body: { code: spaced } });
    expect(ok).toMatchObject({ status: 200, body: { status: 'redeemed', callsCounted: 2 } });
    const again = await http.request('POST', '/demo/api/codes/redeem', { body: { code } });
    expect(again.status).toBe(409);
    expect(JSON.stringify([offer.body, ok.body, again.body])).not.toMatch(/sk_/);
  });
});
