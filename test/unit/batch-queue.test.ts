// The batch queue (db/ledger/batch-queue.ts), set as the ledger sets it for purchase creations
// (keyed by their limits), with runners that only record what they are asked: a lone request
// never waits for company, requests that arrive while the queue's runs are busy leave together,
// a failed batch runs each request alone, and every request is answered exactly once.
import { describe, expect, it } from 'vitest';
import { BatchQueue, queuePerHandle, type BatchOutcome, type BatchRunners } from '../../db/ledger/batch-queue.js';
import type { CreationRequest } from '../../db/ledger/new-purchase.js';
import { limitsKey } from '../../db/ledger/purchases.js';
import { LedgerError } from '../../db/ledger/shared.js';
import type { PurchaseLimits, PurchaseView } from '../../domain/index.js';

const limits: PurchaseLimits = { perNumber: 5, perClientIp: 20, windowSeconds: 3600 };
/** `lim` null: a creation without limits. */
const req = (offerId: string, lim: PurchaseLimits | null = limits): CreationRequest => ({ merchantId: 'm', input: { offerId }, ipHash: null, limits: lim ?? undefined });
const view = (id: string) => ({ id }) as PurchaseView;

/** Writers whose transactions end when the test says so. */
function heldWriters(together: (reqs: CreationRequest[]) => BatchOutcome<PurchaseView>[] | Error = (reqs) => reqs.map((r) => ({ value: view(r.input.offerId) }))) {
  const calls: { way: 'alone' | 'together'; offers: string[]; release: () => void }[] = [];
  const writers: BatchRunners<CreationRequest, PurchaseView> = {
    alone: (r) =>
      new Promise((resolve) => {
        calls.push({ way: 'alone', offers: [r.input.offerId], release: () => resolve(view(`alone:${r.input.offerId}`)) });
      }),
    together: (reqs) =>
      new Promise((resolve, reject) => {
        calls.push({
          way: 'together',
          offers: reqs.map((r) => r.input.offerId),
          release: () => {
            const out = together(reqs);
            if (out instanceof Error) reject(out);
            else resolve(out);
          },
        });
      }),
  };
  return { writers, calls };
}

const tick = () => new Promise((r) => setImmediate(r));
const newQueue = (writers: BatchRunners<CreationRequest, PurchaseView>) => new BatchQueue(writers, { maxRunning: 2, maxBatch: 32, keyOf: limitsKey });

describe('BatchQueue, as the ledger sets it for purchase creations', () => {
  it('writes a lone creation at once, alone', async () => {
    const { writers, calls } = heldWriters();
    const q = newQueue(writers);
    const p = q.submit(req('a'));
    expect(calls).toMatchObject([{ way: 'alone', offers: ['a'] }]);
    calls[0]!.release();
    await expect(p).resolves.toEqual(view('alone:a'));
  });

  it('lets creations arriving while two transactions are busy leave together, in arrival order', async () => {
    const { writers, calls } = heldWriters();
    const q = newQueue(writers);
    const answers = ['a', 'b', 'c', 'd', 'e'].map((o) => q.submit(req(o)));
    // Two transactions at once: a and b alone; c, d and e wait.
    expect(calls.map((c) => c.offers)).toEqual([['a'], ['b']]);
    calls[0]!.release();
    await tick();
    expect(calls[2]).toMatchObject({ way: 'together', offers: ['c', 'd', 'e'] });
    calls[1]!.release();
    calls[2]!.release();
    expect(await Promise.all(answers)).toEqual([view('alone:a'), view('alone:b'), view('c'), view('d'), view('e')]);
  });

  it('batches only creations under the same limits, keeping the others in their place', async () => {
    const { writers, calls } = heldWriters();
    const q = newQueue(writers);
    const other: PurchaseLimits = { ...limits, perNumber: 1 };
    // e's limits are c's values in another object: the same limits.
    const answers = [q.submit(req('a')), q.submit(req('b')), q.submit(req('c')), q.submit(req('d', other)), q.submit(req('e', { ...limits })), q.submit(req('f', null))];
    calls[0]!.release();
    await tick();
    expect(calls[2]).toMatchObject({ way: 'together', offers: ['c', 'e'] });
    calls[1]!.release();
    await tick();
    expect(calls[3]).toMatchObject({ way: 'alone', offers: ['d'] });
    calls[2]!.release();
    await tick();
    expect(calls[4]).toMatchObject({ way: 'alone', offers: ['f'] });
    calls[3]!.release();
    calls[4]!.release();
    await expect(Promise.all(answers)).resolves.toHaveLength(6);
  });

  it('answers each creation of a batch with its own outcome: created, refused, or written alone', async () => {
    const refusal = new LedgerError('offer_not_found', 'No offer with id y.');
    const { writers, calls } = heldWriters((reqs) => reqs.map((r): BatchOutcome<PurchaseView> => (r.input.offerId === 'y' ? { error: refusal } : r.input.offerId === 'z' ? { alone: true } : { value: view(r.input.offerId) })));
    const q = newQueue(writers);
    const answers = ['a', 'b', 'x', 'y', 'z'].map((o) => q.submit(req(o)).then((v) => v, (e: unknown) => e));
    calls[0]!.release();
    calls[1]!.release();
    await tick();
    calls[2]!.release();
    await tick();
    expect(calls[3]).toMatchObject({ way: 'alone', offers: ['z'] });
    calls[3]!.release();
    expect(await Promise.all(answers)).toEqual([view('alone:a'), view('alone:b'), view('x'), refusal, view('alone:z')]);
  });

  it('runs each creation of a failed batch alone, and answers each once', async () => {
    const { writers, calls } = heldWriters(() => new Error('duplicate key value violates unique constraint'));
    const q = newQueue(writers);
    const answers = ['a', 'b', 'c', 'd'].map((o) => q.submit(req(o)));
    calls[0]!.release();
    calls[1]!.release();
    await tick();
    calls[2]!.release();
    await tick();
    expect(calls.slice(3).map((c) => c.offers)).toEqual([['c'], ['d']]);
    for (const c of calls.slice(3)) c.release();
    expect(await Promise.all(answers)).toEqual(['a', 'b', 'c', 'd'].map((o) => view(`alone:${o}`)));
  });

  it('passes a lone creation’s error to its caller and goes on with the next', async () => {
    const boom = new Error('connection refused');
    let n = 0;
    const q = newQueue({
      alone: async (r) => {
        if (++n === 1) throw boom;
        return view(r.input.offerId);
      },
      together: async (reqs) => reqs.map((r) => ({ value: view(r.input.offerId) })),
    });
    await expect(q.submit(req('a'))).rejects.toBe(boom);
    await expect(q.submit(req('b'))).resolves.toEqual(view('b'));
  });
});

describe('queuePerHandle', () => {
  it('makes one queue per handle, on first use, for that handle', () => {
    const madeFor: object[] = [];
    const queueOf = queuePerHandle((handle: object) => {
      madeFor.push(handle);
      return new BatchQueue<string, string>({ alone: async (r) => r, together: async (rs) => rs.map((value) => ({ value })) }, { maxRunning: 1, maxBatch: 2 });
    });
    const [a, b] = [{}, {}];
    expect(queueOf(a)).toBe(queueOf(a));
    expect(queueOf(b)).not.toBe(queueOf(a));
    expect(madeFor).toHaveLength(2);
    expect(madeFor[0]).toBe(a);
    expect(madeFor[1]).toBe(b);
  });
});
