// Purchase creations written together (db/ledger/creation-batch.ts, batch-queue.ts), on a
// real PostgreSQL: a batch answers each creation as the same requests made one by one would be
// answered, in the batch's order; under concurrency, from one process or two, the pending
// purchase's uniqueness and the creation limits stay exact; what a batch cannot write itself
// (a lent number, a lapsed purchase to expire first) is written alone.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerBatchSize } from '../../core/metrics.js';
import { openDatabase, type DbHandle } from '../../db/client.js';
import { createTogether } from '../../db/ledger/creation-batch.js';
import { createPurchase, LedgerError, rowsOf, type NewPurchase } from '../../db/ledger/index.js';
import type { CreationRequest } from '../../db/ledger/new-purchase.js';
import { clientIpHash } from '../../db/ledger/identity.js';
import type { PurchaseLimits, PurchaseView } from '../../domain/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { provision } from '../support/fixtures.js';

let t: TestDatabase;
let second: DbHandle;
beforeAll(async () => {
  t = await createTestDatabase();
  // A second handle on the same database: another API process, with its own queue and pool.
  second = await openDatabase({ databaseUrl: t.url, migrate: false });
});
afterAll(async () => {
  await second?.close();
  await t?.drop();
});

let seq = 0;
const newCaller = () => `+336${String(30_000_000 + ++seq).slice(-8)}`;
const newNumber = () => `+338997${String(++seq).padStart(5, '0')}`;

/** What an answer says, without the ids that differ between two runs. */
function gist(answer: PurchaseView | unknown, names: Map<string, string>): unknown {
  if (answer instanceof LedgerError) {
    const pending = answer.extra.pendingPurchaseId as string | undefined;
    return { refused: answer.code, ...answer.extra, ...(pending ? { pendingPurchaseId: names.get(pending) } : {}) };
  }
  if (answer && typeof answer === 'object' && 'numberToCall' in answer) {
    const p = answer as PurchaseView;
    return { created: names.get(p.numberToCall) ?? p.numberToCall, caller: p.callerNumber && names.get(p.callerNumber), status: p.status };
  }
  return answer;
}

/**
 * The same requests against two copies of one world (its own merchants, offers, numbers,
 * callers and buyer addresses): one written together, one made one by one.
 */
async function world() {
  const n1 = newNumber();
  const n2 = newNumber();
  const pool = newNumber();
  const codes = newNumber();
  const a = await provision(t.db, { numbers: [n1, n2] }, 'A');
  const a2 = await provision(t.db, { numbers: [n1] }, 'A');
  const offer2 = { ...a2.offer, merchantId: a.merchant.id };
  // offer2 belongs to A too (a second offer on n1): move it there.
  await t.db.execute(sql`update offers set merchant_id = ${a.merchant.id} where id = ${offer2.id}`);
  const b = await provision(t.db, { numbers: [n1] }, 'B');
  const bPool = await provision(t.db, { mode: 'dynamic_number', numbers: [pool], holdSeconds: 60, maxHoldSeconds: 90, quarantineSeconds: 0, purchaseTtlSeconds: null }, 'B pool');
  const bCodes = await provision(t.db, { mode: 'access_code', numbers: [codes], purchaseTtlSeconds: null, codeTtlSeconds: 86_400, formulaWindowSeconds: 3_600 }, 'B codes');
  const [c1, c2, c3, c4, c5] = [newCaller(), newCaller(), newCaller(), newCaller(), newCaller()];
  const ip = `192.0.2.${++seq % 250}`;
  const ipOther = `198.51.100.${++seq % 250}`;
  const names = new Map<string, string>([
    [n1, 'n1'],
    [n2, 'n2'],
    [pool, 'pool'],
    [c1, 'c1'],
    [c2, 'c2'],
    [c3, 'c3'],
    [c4, 'c4'],
    [c5, 'c5'],
  ]);
  const r = (merchantId: string, input: NewPurchase) => ({ merchantId, input: { reference: 'batch', ...input } });
  const requests = [
    r(a.merchant.id, { offerId: a.offer.id, callerNumber: c1, clientIp: ip }), // n1
    r(a.merchant.id, { offerId: a.offer.id, callerNumber: c1, clientIp: ip }), // n2
    r(a.merchant.id, { offerId: a.offer.id, callerNumber: c1, clientIp: ip }), // 409, resume the first
    r(a.merchant.id, { offerId: offer2.id, callerNumber: c1 }), // 409, none of this offer to resume
    r(b.merchant.id, { offerId: b.offer.id, callerNumber: c1 }), // n1 at another merchant: the 3rd for c1
    r(b.merchant.id, { offerId: b.offer.id, callerNumber: c1 }), // 429: c1 is at its limit, whoever sells
    r(b.merchant.id, { offerId: b.offer.id, callerNumber: c2, clientIp: ip }), // n1
    r(a.merchant.id, { offerId: a.offer.id, clientIp: ip }), // caller_number_required (4th for the address, not counted)
    r(a.merchant.id, { offerId: a.offer.id, callerNumber: c3, clientIp: ip }), // the address's 4th
    r(a.merchant.id, { offerId: a.offer.id, callerNumber: c4, clientIp: ip }), // 429: the address is at its limit
    r(a.merchant.id, { offerId: b.offer.id, callerNumber: c4 }), // another merchant's offer: not found
    r(a.merchant.id, { offerId: randomUUID(), callerNumber: c4 }), // no such offer
    r(bCodes.merchant.id, { offerId: bCodes.offer.id, callerNumber: c4 }), // access codes: no purchase first
    r(bPool.merchant.id, { offerId: bPool.offer.id, clientIp: ipOther }), // a lent number: written alone
    r(b.merchant.id, { offerId: b.offer.id, callerNumber: c5, clientIp: ipOther }), // n1
  ];
  return { requests, names, numbers: { n1, n2 } };
}

const limits: PurchaseLimits = { perNumber: 3, perClientIp: 4, windowSeconds: 3600 };

async function request(r: { merchantId: string; input: NewPurchase }): Promise<CreationRequest> {
  return { merchantId: r.merchantId, input: r.input, ipHash: r.input.clientIp ? await clientIpHash(t.db, r.input.clientIp) : null, limits };
}

describe('creations written together', () => {
  it('answer each as the same requests made one by one, in order', async () => {
    const together = await world();
    const reqs = await Promise.all(together.requests.map(request));
    const outcomes = await createTogether(t.db, reqs);
    // The lent number is not the batch's: the queue writes it alone, after.
    expect(outcomes[13]).toEqual({ alone: true });
    const alone = await createPurchase(t.db, reqs[13]!.merchantId, reqs[13]!.input, { limits });
    const idNames = new Map(together.names);
    const answersTogether = outcomes.map((o, i) => {
      if (i === 13) return alone;
      if ('value' in o) {
        idNames.set(o.value.id, `#${i}`);
        return o.value;
      }
      return 'error' in o ? o.error : o;
    });

    const oneByOne = await world();
    const idNamesOne = new Map(oneByOne.names);
    const answersOne: unknown[] = [];
    for (const [i, r] of oneByOne.requests.entries()) {
      const answer = await createPurchase(t.db, r.merchantId, r.input, { limits }).catch((e: unknown) => e);
      if (answer && typeof answer === 'object' && 'id' in answer && !(answer instanceof Error)) idNamesOne.set((answer as PurchaseView).id, `#${i}`);
      answersOne.push(answer);
    }

    const one = answersOne.map((a) => gist(a, idNamesOne));
    expect(answersTogether.map((a) => gist(a, idNames))).toEqual(one);
    // The expected answers, spelled out (the comments of world()).
    expect(one.map((g) => (g as { created?: string; refused?: string }).created ?? (g as { refused: string }).refused)).toEqual([
      'n1',
      'n2',
      'caller_has_pending_purchase',
      'caller_has_pending_purchase',
      'n1',
      'too_many_purchases',
      'n1',
      'caller_number_required',
      'n1',
      'too_many_purchases',
      'offer_not_found',
      'offer_not_found',
      'access_code_offer',
      'pool',
      'n1',
    ]);
    expect(one[2]).toMatchObject({ pendingPurchaseId: '#0' });
    expect(one[3]).not.toHaveProperty('pendingPurchaseId');
  });

  it('write each created purchase with one created event holding what the merchant was answered', async () => {
    const { requests } = await world();
    const outcomes = await createTogether(t.db, await Promise.all(requests.map(request)));
    const created = outcomes.flatMap((o) => ('value' in o ? [o.value] : []));
    // The lent number's creation is the queue's to run alone (outcome `alone`): six of seven.
    expect(created).toHaveLength(6);
    const rows = rowsOf<{ purchase_id: string; type: string; calls_counted: number; data: { purchase: PurchaseView; callInProgress: boolean } }>(
      await t.db.execute(sql`select purchase_id, type, calls_counted, data from purchase_events where purchase_id in (select value::uuid from json_array_elements_text(${JSON.stringify(created.map((p) => p.id))}::json)) order by id`),
    );
    expect(rows.map((e) => e.purchase_id).sort()).toEqual(created.map((p) => p.id).sort());
    for (const p of created) expect(rows.find((e) => e.purchase_id === p.id)).toMatchObject({ type: 'created', calls_counted: 0, data: { purchase: p, callInProgress: false } });
    // And the purchase as read back is the purchase answered.
    const [stored] = rowsOf<{ n: number }>(
      await t.db.execute(sql`select count(*)::int as n from purchases where id in (select value::uuid from json_array_elements_text(${JSON.stringify(created.map((p) => p.id))}::json))
                                and expires_at = created_at + make_interval(secs => 600) and status = 'pending'`),
    );
    expect(stored!.n).toBe(6);
  });
});

/** The creation queue's counts of creations, by way (alone, together, fell_back). */
async function batched(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await ledgerBatchSize.get()).values) if (v.metricName?.endsWith('_sum') && v.labels.op === 'purchase_creation') out[String(v.labels.way)] = v.value;
  return out;
}

describe('creations at once', () => {
  it('give one caller one purchase per number, the others a 409 naming it, in batches', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber(), newNumber()] });
    const caller = newCaller();
    const before = await batched();
    const answers = await Promise.allSettled(Array.from({ length: 20 }, () => createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits: { ...limits, perNumber: 50 } })));
    const created = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    expect(created.map((p) => p.numberToCall).sort()).toEqual([...offer.numbers].sort());
    const refused = answers.flatMap((a) => (a.status === 'rejected' ? [a.reason as LedgerError] : []));
    expect(refused).toHaveLength(18);
    for (const e of refused) {
      expect(e.code).toBe('caller_has_pending_purchase');
      expect(created.map((p) => p.id)).toContain(e.extra.pendingPurchaseId);
    }
    // They were written in batches, not one by one.
    expect((await batched()).together ?? 0).toBeGreaterThan(before.together ?? 0);
  });

  it('hold the limits exactly when two processes create for one number and one address', async () => {
    const caller = newCaller();
    const shops = await Promise.all(Array.from({ length: 24 }, (_, i) => provision(t.db, { numbers: [newNumber()] }, `L${i}`)));
    const strict: PurchaseLimits = { perNumber: 5, perClientIp: 7, windowSeconds: 3600 };
    const both = [t.db, second.db];
    // The same number at 24 merchants, through both processes at once.
    const byNumber = await Promise.allSettled(shops.map((s, i) => createPurchase(both[i % 2]!, s.merchant.id, { offerId: s.offer.id, callerNumber: caller }, { limits: strict })));
    expect(byNumber.filter((a) => a.status === 'fulfilled')).toHaveLength(5);
    for (const a of byNumber) if (a.status === 'rejected') expect((a.reason as LedgerError).code).toBe('too_many_purchases');
    // One buyer address, many numbers.
    const ip = '203.0.113.77';
    const byAddress = await Promise.allSettled(
      shops.map((s, i) => createPurchase(both[i % 2]!, s.merchant.id, { offerId: s.offer.id, callerNumber: newCaller(), clientIp: ip }, { limits: { ...strict, perNumber: 50 } })),
    );
    expect(byAddress.filter((a) => a.status === 'fulfilled')).toHaveLength(7);
    for (const a of byAddress) if (a.status === 'rejected') expect((a.reason as LedgerError).code).toBe('too_many_purchases');
  });

  it('keep one pending purchase per caller and number with no limits (no locks), across two processes', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] });
    const caller = newCaller();
    const answers = await Promise.allSettled(
      Array.from({ length: 24 }, (_, i) => createPurchase([t.db, second.db][i % 2]!, merchant.id, { offerId: offer.id, callerNumber: caller })),
    );
    const created = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    expect(created).toHaveLength(1);
    for (const a of answers) if (a.status === 'rejected') expect((a.reason as LedgerError).code).toBe('caller_has_pending_purchase');
  });

  it('write a caller’s lapsed purchase expired before the new one, and lent numbers each to one buyer', async () => {
    const { merchant, offer } = await provision(t.db, { numbers: [newNumber()] });
    const caller = newCaller();
    const old = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller });
    await t.db.execute(sql`update purchases set created_at = now() - interval '20 minutes', expires_at = now() - interval '10 minutes' where id = ${old.id}`);
    const pool = await provision(t.db, { mode: 'dynamic_number', numbers: [newNumber(), newNumber(), newNumber()], holdSeconds: 60, maxHoldSeconds: 90, quarantineSeconds: 0, purchaseTtlSeconds: null }, 'Pool');
    const answers = await Promise.allSettled([
      ...Array.from({ length: 3 }, () => createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: caller }, { limits })),
      ...Array.from({ length: 5 }, () => createPurchase(t.db, pool.merchant.id, { offerId: pool.offer.id }, { limits })),
    ]);
    const [mine, lent] = [answers.slice(0, 3), answers.slice(3)];
    expect(mine.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    const [oldNow] = rowsOf<{ status: string }>(await t.db.execute(sql`select status from purchases where id = ${old.id}`));
    expect(oldNow!.status).toBe('expired');
    const lentNumbers = lent.flatMap((a) => (a.status === 'fulfilled' ? [a.value.numberToCall] : []));
    expect(lentNumbers.sort()).toEqual([...pool.offer.numbers].sort());
    for (const a of lent) if (a.status === 'rejected') expect((a.reason as LedgerError).code).toBe('pool_exhausted');
  });
});
