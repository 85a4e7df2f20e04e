// The floor under the call decision's latency: a transaction of the decision's shape (BEGIN; two
// statements sent together; three more, one after another; COMMIT: six round trips) made of
// trivial statements, started at the decision bench's call rate, from a process of its own,
// while the IVR's rounds run. It waits for the same PostgreSQL and the same cores as the
// IVR's decisions do, and does nothing else: what it takes is what this machine gives any
// transaction of that shape under that load. bench/telephony.ts runs it (decision part);
// prints the JSON list of each transaction's milliseconds on stdout.
import postgres from 'postgres';
import type { TransactionFloorSpec } from './lib.js';

const spec = JSON.parse(process.argv[2] ?? '') as TransactionFloorSpec;
const sql = postgres(spec.url, { max: 4, onnotice: () => {} });

async function oneTransaction(): Promise<number> {
  const started = performance.now();
  await sql.begin(async (tx) => {
    // The decision: the channel's call and the dialed number together, then the purchase under
    // its lock, its calls in progress, the call row.
    await Promise.all([tx`select 1`, tx`select 1`]);
    await tx`select 1`;
    await tx`select 1`;
    await tx`select 1`;
  });
  return performance.now() - started;
}

// Warm-up: connections open, statements known.
for (let i = 0; i < 20; i++) await oneTransaction();

const took: number[] = [];
const total = Math.round(spec.rate * spec.seconds);
const runs: Promise<void>[] = [];
const started = performance.now();
for (let i = 0; i < total; i++) {
  const due = started + (i * 1000) / spec.rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  runs.push(oneTransaction().then((ms) => void took.push(ms)));
}
await Promise.all(runs);
await sql.end({ timeout: 1 });

process.stdout.write(JSON.stringify(took));
