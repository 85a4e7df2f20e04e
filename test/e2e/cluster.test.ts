// The cluster test (test/cluster/faults.ts), short: 30 calls through Kamailio to two Asterisk
// nodes while Asterisk b is killed with SIGKILL and restarted, and node a's serving IVR worker
// is killed with SIGKILL (a standby takes over and resumes its calls), then a second worker is
// started for node a by mistake. The full run is `npm run test:cluster` (200 calls).
import { describe, expect, it } from 'vitest';
import { runClusterTest } from '../cluster/faults.js';
import { asterisk } from '../support/asterisk.js';

describe('cluster: Kamailio, two Asterisk nodes, elected IVR workers', () => {
  it('keeps calls flowing and credits each once through an Asterisk kill and a worker kill', { timeout: 400_000 }, async () => {
    // The single-node Asterisk of the other end-to-end files holds 127.0.0.1:5060, which is
    // Kamailio's here; they start it again when they need it.
    await asterisk('stop');
    const report = await runClusterTest({ calls: 30, rate: 1.5, killAsteriskAtMs: 4_000, killWorkerAtMs: 12_000 });
    const { asteriskB: b, workerA: w } = report.faults;
    const summary =
      `b marked down after ${b.detectedAfterMs} ms (${b.inProgressOnB} calls cut, ${b.failedBeforeDetection} failed before detection), ` +
      `back after ${report.faults.asteriskBRestart.backInAfterMs} ms; worker of a replaced after ${w.appBackAfterMs} ms ` +
      `(${w.inProgressOnACounted}/${w.inProgressOnA} calls resumed and counted, ${w.refusedInGap} refused in the gap); ` +
      `callers ${JSON.stringify(report.totals.callerSaw)}; ledger ${JSON.stringify(report.totals.outcomes)}`;
    console.log(`cluster: ${summary}`);
    expect(report.failures, `${summary}\n${report.failures.join('\n')}`).toEqual([]);
    expect(report.totals.doubleCredits + report.totals.overRequired + report.totals.openCalls).toBe(0);
    expect(b.detectedAfterMs).toBeLessThanOrEqual(10_000);
    expect(w.appBackAfterMs).toBeLessThanOrEqual(5_000);
    expect(w.mistakenWorkerStayedStandby).toBe(true);
  });
});
