// Places one test call against the running local stack (npm run stack), the way a buyer
// would: makes sure a demo merchant and offer exist, creates (or resumes) a purchase for the
// given phone number, calls the premium number with SIPp from that number, prints the result.
//   npx tsx scripts/test-call.ts 0612345678
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { placeCall } from '../test/support/sipp.js';

const caller = process.argv[2] ?? '0612345678';
const api = `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const adminToken = process.env.ADMIN_TOKEN ?? 'dev-admin-token-change-me';
const stateFile = 'data/demo.json';
const premiumNumber = '0899123456';

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function demoOffer(): Promise<{ apiKey: string; offerId: string }> {
  try {
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
    if ((await call('GET', `/v1/admin/offers/${saved.offerId}`, adminToken)).status === 200) return saved;
  } catch {
    // no demo yet
  }
  const merchant = await call('POST', '/v1/admin/merchants', adminToken, { name: 'Demo shop' });
  if (merchant.status !== 201) throw new Error(`cannot create the demo merchant: ${JSON.stringify(merchant.body)}`);
  const offer = await call('POST', '/v1/admin/offers', adminToken, {
    merchantId: merchant.body.id,
    name: 'Demo article',
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

const { apiKey, offerId } = await demoOffer();
let created = await call('POST', '/v1/purchases', apiKey, { offerId, callerNumber: caller, reference: 'test-call' });
if (created.status === 409 && created.body.pendingPurchaseId) {
  created = await call('GET', `/v1/purchases/${created.body.pendingPurchaseId}`, apiKey);
}
if (created.status >= 300) throw new Error(`cannot create a purchase: ${JSON.stringify(created.body)}`);
const p = created.body;
console.log(`purchase ${p.id}: ${p.callsCounted}/${p.callsRequired} calls, calling ${p.numberToCall} from ${p.callerNumber}...`);
const result = await placeCall({ scenario: 'uac-answered-wait-bye', dialed: premiumNumber, caller: p.callerNumber.replace('+', '') });
console.log(result.exitCode === 0 ? 'call answered and completed' : `call failed (sipp exit ${result.exitCode})\n${result.errors}`);
await new Promise((r) => setTimeout(r, 1500));
const after = (await call('GET', `/v1/purchases/${p.id}`, apiKey)).body;
console.log(`purchase ${after.id}: status ${after.status}, ${after.callsCounted}/${after.callsRequired} calls counted`);
