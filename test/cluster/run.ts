// npm run test:cluster: the cluster test (test/cluster/faults.ts) at full size, from the
// command line. Bounded: it stops the cluster and drops its database whatever happens.
//
//   npm run test:cluster                       200 calls at 4 a second
//   npm run test:cluster -- --calls 60 --rate 2
//   npm run test:cluster -- --keep             keep the database (logs stay under CLUSTER_STATE)
//
// Needs root, PostgreSQL (DATABASE_URL, default the local test server) and 127.0.0.1:5060 free
// (stop the single-node Asterisk first: bash scripts/asterisk.sh stop). Prints what it
// measured; the full report is in test-artifacts/cluster-<calls>.json. Exits 1 on a failure.
import { parseArgs } from 'node:util';
import { runClusterTest } from './faults.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    rate: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
  },
});
const calls = Number(values.calls);
const rate = Number(values.rate);
if (!Number.isInteger(calls) || calls < 20 || !(rate > 0 && rate <= 10)) {
  console.error('usage: npm run test:cluster -- [--calls N (20+)] [--rate R (calls a second, up to 10)] [--keep]');
  process.exit(2);
}
process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';
const placingMs = (calls * 1000) / rate;
const report = await runClusterTest({
  calls,
  rate,
  killAsteriskAtMs: Math.round(placingMs * 0.25),
  killWorkerAtMs: Math.round(placingMs * 0.65),
  keep: values.keep,
  say: (line) => console.log(line),
});
const { asteriskB: b, asteriskBRestart: r, workerA: w } = report.faults;
console.log(`
cluster test, ${report.totals.placed} calls at ${rate}/s, ${report.seconds} s in all
  kill -9 asterisk-b at ${b.killedAtS}s: Kamailio marked it down after ${b.detectedAfterMs} ms
    calls in progress on b: ${b.inProgressOnB} (ledger: ${JSON.stringify(b.inProgressOnBOutcomes)})
    calls started before detection: ${b.startedBeforeDetection}, failed ${b.failedBeforeDetection}
    calls started after detection while b was down: ${b.startedDownAfterDetection}, failed ${b.failedDownAfterDetection}
  asterisk-b restarted at ${r.restartedAtS}s: back in Kamailio after ${r.backInAfterMs} ms, took ${r.callsOnBAfterwards} calls afterwards
  kill -9 of node a's serving worker at ${w.killedAtS}s: standby holds the lock after ${w.newHolderAfterMs} ms, ARI application back after ${w.appBackAfterMs} ms
    calls in progress on a: ${w.inProgressOnA}, resumed and counted ${w.inProgressOnACounted}
    calls started in the gap: ${w.startedInGap}, refused unanswered ${w.refusedInGap}
    a second worker started for node a stayed on standby: ${w.mistakenWorkerStayedStandby}
  callers saw ${JSON.stringify(report.totals.callerSaw)}; per node ${JSON.stringify(report.totals.perNode)}
  ledger: ${JSON.stringify(report.totals.outcomes)}; purchases ${JSON.stringify(report.totals.purchases)}
    counted calls ${report.totals.countedCalls}, purchases credited twice ${report.totals.doubleCredits}, past callsRequired ${report.totals.overRequired}, calls left open ${report.totals.openCalls}
`);
if (report.failures.length) {
  console.log(`FAILED:\n  ${report.failures.join('\n  ')}`);
  process.exit(1);
}
console.log('cluster test: every check holds');
