// The call storm (test/chaos/storm.ts), small and with a fixed seed: 60 real SIP calls whose
// callers hang up at every phase of a call, mixed with refused callers, simultaneous calls for
// one purchase and dynamic numbers, against `sanscode all` run as its own process. The full
// storm is `npm run chaos -- --seed N --calls N`.
import { describe, expect, it } from 'vitest';
import { runStorm } from '../chaos/storm.js';

const SEED = 20261129;

describe('call storm', () => {
  it('keeps every invariant through 60 calls hanging up at random instants (seed 20261129)', { timeout: 300_000 }, async () => {
    const report = await runStorm({ seed: SEED, calls: 60, concurrency: 10 });
    const summary = `seed ${report.seed}, ${report.calls.length} calls in ${report.seconds} s; callers saw ${JSON.stringify(report.stats.callerSaw)}; ledger ${JSON.stringify(report.stats.outcomes)}`;
    console.log(`chaos: ${summary}`);
    expect(report.failures, `${summary}\nreplay: npm run chaos -- --seed ${report.seed} --calls 60\n${report.failures.join('\n')}`).toEqual([]);
  });
});
