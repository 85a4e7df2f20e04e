// Requests that arrive while others are under way wait here, then run together: one
// transaction or one statement for many (group commit, as databases do with their own log).
//
// Why: each statement costs CPU on both sides of the socket (postgres.js's socket writes were
// the largest item of the API's profile under load), and that, not PostgreSQL's work, was most
// of what a purchase creation cost the API beyond one INSERT's (docs/performance.md).
//
// Nothing waits for company: a request that finds fewer than `maxRunning` of its queue's runs
// under way starts at once, alone. Only requests arriving while all of them are under way wait,
// and they leave together as soon as one ends. So a lone request is as fast as before, and under
// load the batches grow with it.

/** What running requests together decided for one of them. */
export type BatchOutcome<Res> =
  | { value: Res }
  | { error: unknown }
  /** It needs a run of its own (statements the batch does not make): run it alone. */
  | { alone: true };

export interface BatchRunners<Req, Res> {
  /** One request on its own. */
  alone(req: Req): Promise<Res>;
  /** Several at once: one outcome per request, in order. Throws if the run failed as a whole (nothing written). */
  together(reqs: Req[]): Promise<BatchOutcome<Res>[]>;
}

export interface BatchQueueOptions<Req> {
  /** Runs (alone or together) under way at once. */
  maxRunning: number;
  /** Requests run together at most. */
  maxBatch: number;
  /** Requests run together only with others of the same key (all alike when absent). */
  keyOf?: (req: Req) => string;
  /** Told of each run: its requests, alone, together, or together and then alone after the run failed. */
  onRun?: (way: 'alone' | 'together' | 'fell_back', size: number) => void;
}

interface Waiting<Req, Res> {
  req: Req;
  resolve: (res: Res) => void;
  reject: (err: unknown) => void;
}

export class BatchQueue<Req, Res> {
  private readonly waiting: Waiting<Req, Res>[] = [];
  private running = 0;

  constructor(
    private readonly runners: BatchRunners<Req, Res>,
    private readonly opts: BatchQueueOptions<Req>,
  ) {}

  submit(req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.opts.maxRunning && this.waiting.length > 0) {
      const batch = this.takeBatch();
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /** The oldest waiting requests that share the first one's key, up to maxBatch; the others keep their place. */
  private takeBatch(): Waiting<Req, Res>[] {
    const keyOf = this.opts.keyOf;
    if (!keyOf) return this.waiting.splice(0, this.opts.maxBatch);
    const key = keyOf(this.waiting[0]!.req);
    const batch: Waiting<Req, Res>[] = [];
    for (let i = 0; i < this.waiting.length && batch.length < this.opts.maxBatch; ) {
      if (keyOf(this.waiting[i]!.req) === key) batch.push(...this.waiting.splice(i, 1));
      else i++;
    }
    return batch;
  }

  /** Settles every request of the batch; never rejects. */
  private async run(batch: Waiting<Req, Res>[]): Promise<void> {
    if (batch.length === 1) {
      this.opts.onRun?.('alone', 1);
      return this.runAlone(batch[0]!);
    }
    let outcomes: BatchOutcome<Res>[];
    try {
      outcomes = await this.runners.together(batch.map((w) => w.req));
      this.opts.onRun?.('together', batch.length);
    } catch {
      // The run failed and wrote nothing: for a transaction, a race another process won (a
      // unique index, an exclusion constraint), a deadlock, the database gone. Each request
      // then runs alone, with the retries and the errors it would have had alone.
      this.opts.onRun?.('fell_back', batch.length);
      await Promise.all(batch.map((w) => this.runAlone(w)));
      return;
    }
    const alone: Waiting<Req, Res>[] = [];
    outcomes.forEach((outcome, i) => {
      const w = batch[i]!;
      if ('value' in outcome) w.resolve(outcome.value);
      else if ('error' in outcome) w.reject(outcome.error);
      else alone.push(w);
    });
    await Promise.all(alone.map((w) => this.runAlone(w)));
  }

  private async runAlone(w: Waiting<Req, Res>): Promise<void> {
    try {
      w.resolve(await this.runners.alone(w.req));
    } catch (err) {
      w.reject(err);
    }
  }
}

/**
 * One queue per database handle (a process may hold several: tests, the bench), made on first
 * use: `make` builds it for the handle it is given.
 */
export function queuePerHandle<Handle extends object, Req, Res>(make: (handle: Handle) => BatchQueue<Req, Res>): (handle: Handle) => BatchQueue<Req, Res> {
  const queues = new WeakMap<Handle, BatchQueue<Req, Res>>();
  return (handle) => {
    let queue = queues.get(handle);
    if (!queue) queues.set(handle, (queue = make(handle)));
    return queue;
  };
}
