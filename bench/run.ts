// npm run bench — ratios measured in one run on this machine, never absolute promises.
//  1. API: GET /v1/purchases/{id} (auth + ledger read + problem-ready Express app) against a bare
//     Express handler returning the same JSON, both over loopback HTTP with the same client.
//  2. Ledger: admitting a call (decision under the purchase lock, call row written, one
//     transaction) against a plain SELECT of the same purchase.
// Needs PostgreSQL (DATABASE_URL, default the local test server); creates and drops its database.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { createApi } from '../api/app.js';
import { admitCall, createPurchase } from '../db/ledger/index.js';
import { createTestDatabase } from '../test/support/db.js';
import { provision } from '../test/support/fixtures.js';

interface Result {
  name: string;
  ops: number;
  seconds: number;
  p50: number;
  p99: number;
}

async function measure(name: string, total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t0 = performance.now();
        await op(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
  return { name, ops: total, seconds, p50: pct(0.5), p99: pct(0.99) };
}

const line = (r: Result) =>
  `${r.name.padEnd(44)} ${(r.ops / r.seconds).toFixed(0).padStart(7)} ops/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms`;

function listenOn(app: express.Express): Promise<{ base: string; close: () => void }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () =>
      resolve({ base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }),
    );
  });
}

const t = await createTestDatabase();
try {
  const { merchant, offer } = await provision(t.db, { numbers: ['+33899999001'], callsRequired: 20 });
  const purchase = await createPurchase(t.db, merchant.id, { offerId: offer.id, callerNumber: '+33612345678' });

  const api = await listenOn(createApi({ db: t.db, log: pino({ level: 'silent' }), adminToken: undefined, defaultRegion: 'FR' }));
  const bare = express();
  bare.get('/v1/purchases/:id', (_req, res) => {
    res.json(purchase);
  });
  const bareServer = await listenOn(bare);
  const headers = { authorization: `Bearer ${merchant.apiKey}` };
  const get = (base: string) => () => fetch(`${base}/v1/purchases/${purchase.id}`, { headers }).then((r) => r.arrayBuffer());

  const rounds = Number(process.env.BENCH_REQUESTS ?? 3000);
  await measure('warm-up', 300, 10, get(api.base));
  await measure('warm-up', 300, 10, get(bareServer.base));
  const bareRes = await measure('bare Express handler, same JSON', rounds, 20, get(bareServer.base));
  const apiRes = await measure('sanscode GET /v1/purchases/{id}', rounds, 20, get(api.base));
  api.close();
  bareServer.close();

  const calls = Number(process.env.BENCH_CALLS ?? 2000);
  const facts = (i: number) => ({
    channelId: `bench-${i}`,
    asteriskId: 'bench',
    dialedRaw: '0899999001',
    dialed: '+33899999001',
    callerRaw: '0699999999',
    caller: '+33699999999', // no purchase: the refusal path, which writes a call row too
  });
  const plainRes = await measure('plain SELECT of the purchase', calls, 10, () =>
    t.db.execute(sql`select * from purchases where number_to_call = '+33899999001' and caller_number = '+33612345678'`),
  );
  const admitRes = await measure('admitCall (decide under lock + call row)', calls, 10, (i) =>
    admitCall(t.db, facts(i), { maxCallSeconds: 3600, defaultLanguage: 'fr' }),
  );

  console.log(`sanscode bench — ${new Date().toISOString()}, node ${process.version}, ${rounds} requests / ${calls} calls, loopback\n`);
  for (const r of [bareRes, apiRes, plainRes, admitRes]) console.log(line(r));
  const ratio = (a: Result, b: Result) => (a.ops / a.seconds / (b.ops / b.seconds)).toFixed(2);
  console.log(`\nAPI throughput / bare Express: ${ratio(apiRes, bareRes)}`);
  console.log(`admitCall throughput / plain SELECT: ${ratio(admitRes, plainRes)}`);
} finally {
  await t.drop();
}
