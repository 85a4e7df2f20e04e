// Places one test call against the running local stack (npm run stack), as a buyer would.
//
//   npx tsx scripts/test-call.ts 0612345678
//       Calls 0899123456 from 0612345678. If that caller has no pending purchase on the number,
//       one is created first on a demo 2-call offer; if one exists already (for example made on
//       the /demo page), the call simply pays towards it, as a real call would.
//   npx tsx scripts/test-call.ts anonymous --to 0899200001
//       Calls any number from any caller (here a withheld one, for a lent dynamic number).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { placeCall } from './lib/sipp.js';

const args = process.argv.slice(2);
const toFlag = args.indexOf('--to');
const dialed = toFlag >= 0 ? args.splice(toFlag, 2)[1] : undefined;
const caller = args[0] ?? '0612345678';
const api = `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const adminToken = process.env.ADMIN_TOKEN ?? 'dev-admin-token-change-me';
const stateFile = 'data/test-call.json';
const premiumNumber = '0899123456';

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/** A merchant and 2-call offer of this script's own, made once through the admin API. */
async function testOffer(): Promise<{ apiKey: string; offerId: string }> {
  try {
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
    if ((await call('GET', `/v1/admin/offers/${saved.offerId}`, adminToken)).status === 200) return saved;
  } catch {
    // none yet
  }
  const merchant = await call('POST', '/v1/admin/merchants', adminToken, { name: 'test-call.ts' });
  if (merchant.status !== 201) throw new Error(`cannot create a merchant: ${JSON.stringify(merchant.body)}`);
  const offer = await call('POST', '/v1/admin/offers', adminToken, {
    merchantId: merchant.body.id,
    name: 'Test call',
    mode: 'caller_id',
    callsRequired: 2,
    minCallSeconds: 3,
    numbers: [premiumNumber],
    purchaseTtlSeconds: 900,
    language: 'fr',
  });
  const saved = { apiKey: merchant.body.apiKey, offerId: offer.body.id };
  mkdirSync('data', { recursive: true });
  writeFileSync(stateFile, JSON.stringify(saved), { mode: 0o600 });
  return saved;
}

let purchase: { id: string; apiKey: string } | null = null;
if (!dialed) {
  const { apiKey, offerId } = await testOffer();
  const created = await call('POST', '/v1/purchases', apiKey, { offerId, callerNumber: caller, reference: 'test-call' });
  if (created.status === 201) {
    purchase = { id: created.body.id, apiKey };
    console.log(`purchase ${created.body.id} created: ${created.body.callsRequired} calls to ${created.body.numberToCall}`);
  } else if (created.status === 409 && created.body.pendingPurchaseId) {
    purchase = { id: created.body.pendingPurchaseId, apiKey };
    console.log(`resuming purchase ${purchase.id}`);
  } else if (created.status === 409) {
    console.log('this caller already has a pending purchase on the number (another merchant, e.g. /demo): calling for it');
  } else {
    throw new Error(`cannot create a purchase: ${JSON.stringify(created.body)}`);
  }
}

const to = dialed ?? premiumNumber;
const from = caller === 'anonymous' ? 'anonymous' : caller.replace(/^\+/, '').replace(/^0/, '33');
console.log(`calling ${to} from ${caller}...`);
const result = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: to, caller: from });
console.log(result.exitCode === 0 ? 'call answered, held, and hung up by the IVR' : `call not answered (sipp exit ${result.exitCode}): the IVR refused it or is down`);
if (purchase) {
  await new Promise((r) => setTimeout(r, 1000));
  const after = (await call('GET', `/v1/purchases/${purchase.id}`, purchase.apiKey)).body;
  console.log(`purchase ${after.id}: ${after.status}, ${after.callsCounted}/${after.callsRequired} calls counted`);
}
