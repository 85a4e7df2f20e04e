// Purchase creations that arrive while others are being written wait here, then are written
// together, in one transaction (group commit).
//
// Why: a creation alone is a transaction of five statements (BEGIN, the offer and the limits'
// locks, the limits' counts and the caller's pending purchases, the purchase with its event,
// COMMIT), and each statement costs CPU on both sides of the socket: measured, that was the
// creation's whole gap to one INSERT (README, Measured). Written together, N creations share
// one transaction of six statements.
//
// Nothing waits for company: a creation that finds fewer than MAX_TRANSACTIONS transactions
// of this queue under way starts at once, alone. Only creations arriving while all of them
// are under way wait, and they leave together as soon as one ends. So a lone request is as
// fast as before, and under load the batches grow with it.
import { purchaseCreationBatchSize } from '../../core/metrics.js';
import type { PurchaseView } from '../../domain/index.js';
import type { CreationRequest } from './new-purchase.js';
import type { LedgerError } from './shared.js';

/** What writing creations together decided for one of them. */
export type CreationOutcome =
  | { created: PurchaseView }
  | { refused: LedgerError }
  /** Its creation needs statements of its own (a lent number, a lapsed purchase to expire): run it alone. */
  | { alone: true };

export interface CreationWriters {
  /** One creation in a transaction of its own (with its retries). */
  alone(req: CreationRequest): Promise<PurchaseView>;
  /** Several in one transaction: one outcome per request, in order. Throws if the transaction fails. */
  together(reqs: CreationRequest[]): Promise<CreationOutcome[]>;
}

/**
 * Creation transactions under way at once per queue (per database handle, so per process). Two:
 * while one is in PostgreSQL the next batch gathers. Probed with one, two and four (8 s rounds of
 * POST /v1/purchases, 20 connections): the same rate within this machine's noise.
 */
const MAX_TRANSACTIONS = 2;
/** Creations written together at most, which bounds a batch's transaction and its statements' size. */
const MAX_BATCH = 32;

interface Waiting {
  req: CreationRequest;
  resolve: (view: PurchaseView) => void;
  reject: (err: unknown) => void;
}

/** Equal for creations under equal limits (the same values, not only the same object). */
function limitsKey({ limits }: CreationRequest): string {
  return limits ? `${limits.perNumber}/${limits.perClientIp}/${limits.windowSeconds}` : 'none';
}

export class CreationQueue {
  private readonly waiting: Waiting[] = [];
  private running = 0;

  constructor(private readonly writers: CreationWriters) {}

  submit(req: CreationRequest): Promise<PurchaseView> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < MAX_TRANSACTIONS && this.waiting.length > 0) {
      const batch = this.takeBatch();
      this.running++;
      void this.write(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /**
   * The oldest waiting creations that share the first one's limits (a batch reads one window
   * of counts), up to MAX_BATCH; the others keep their place.
   */
  private takeBatch(): Waiting[] {
    const limits = limitsKey(this.waiting[0]!.req);
    const batch: Waiting[] = [];
    for (let i = 0; i < this.waiting.length && batch.length < MAX_BATCH; ) {
      if (limitsKey(this.waiting[i]!.req) === limits) batch.push(...this.waiting.splice(i, 1));
      else i++;
    }
    return batch;
  }

  /** Settles every creation of the batch; never rejects. */
  private async write(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      purchaseCreationBatchSize.observe({ way: 'alone' }, 1);
      return this.writeAlone(batch[0]!);
    }
    let outcomes: CreationOutcome[];
    try {
      outcomes = await this.writers.together(batch.map((w) => w.req));
      purchaseCreationBatchSize.observe({ way: 'together' }, batch.length);
    } catch {
      purchaseCreationBatchSize.observe({ way: 'fell_back' }, batch.length);
      // The transaction failed and wrote nothing: a race another process won (the pending
      // purchase's unique index, a lent number's exclusion), a deadlock, the database gone.
      // Each creation then runs alone, with the retries and the errors it would have had alone.
      await Promise.all(batch.map((w) => this.writeAlone(w)));
      return;
    }
    const alone: Waiting[] = [];
    outcomes.forEach((outcome, i) => {
      const w = batch[i]!;
      if ('created' in outcome) w.resolve(outcome.created);
      else if ('refused' in outcome) w.reject(outcome.refused);
      else alone.push(w);
    });
    await Promise.all(alone.map((w) => this.writeAlone(w)));
  }

  private async writeAlone(w: Waiting): Promise<void> {
    try {
      w.resolve(await this.writers.alone(w.req));
    } catch (err) {
      w.reject(err);
    }
  }
}
