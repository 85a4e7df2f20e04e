// The call storm from the command line (see test/chaos/storm.ts for what it does and checks):
//
//   npm run chaos                                   300 calls, a random seed
//   npm run chaos -- --seed 42 --calls 500          the storm of seed 42, 500 calls
//   npm run chaos -- --seed 42 --concurrency 8      fewer calls at once (default 10)
//
// Needs PostgreSQL (DATABASE_URL, default the local test server) and takes over the local
// Asterisk and its `sanscode` application: stop `npm run stack` first. Asterisk is stopped
// afterwards if this run started it. Exits 1 and prints the seed and the failing calls when
// an invariant does not hold.
import { parseArgs } from 'node:util';
import { runStorm } from '../test/chaos/storm.js';
import { asterisk } from '../test/support/asterisk.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    calls: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '10' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
if (![seed, calls, concurrency].every((n) => Number.isInteger(n) && n >= 0) || calls < 1 || concurrency < 1) {
  console.error('usage: npm run chaos -- [--seed N] [--calls N] [--concurrency N]');
  process.exit(2);
}
process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';

const asteriskWasUp = await asterisk('status').then(
  () => true,
  () => false,
);
// Interrupted: leave nothing running (the service and SIPp processes go with this process).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`chaos: ${signal}: stopping`);
    void (asteriskWasUp ? Promise.resolve('') : asterisk('stop').catch(() => '')).then(() => process.exit(130));
  });
}
let exitCode = 1;
try {
  const report = await runStorm({ seed, calls, concurrency, say: (line) => console.log(line) });
  console.log(`chaos: ${report.calls.length} calls in ${report.seconds} s`);
  console.log(`chaos: callers saw ${JSON.stringify(report.stats.callerSaw)}`);
  console.log(`chaos: ledger outcomes ${JSON.stringify(report.stats.outcomes)}; purchases ${JSON.stringify(report.stats.purchases)}`);
  if (report.failures.length === 0) {
    console.log(`chaos: seed ${seed}: every invariant holds`);
    exitCode = 0;
  } else {
    console.log(`chaos: seed ${seed}: ${report.failures.length} failures (service log: ${report.logFile})`);
    for (const f of report.failures.slice(0, 40)) console.log(`  ${f}`);
    if (report.failures.length > 40) console.log(`  ... and ${report.failures.length - 40} more`);
    console.log(`chaos: replay with: npm run chaos -- --seed ${seed} --calls ${calls}`);
  }
} catch (err) {
  console.error(`chaos: seed ${seed}: the storm could not run:`, err);
} finally {
  if (!asteriskWasUp) await asterisk('stop').catch((err) => console.error('chaos: could not stop Asterisk:', err));
}
process.exit(exitCode);
