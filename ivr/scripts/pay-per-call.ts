// A call that pays one call of a purchase: price announcement and whom the caller pays (free,
// before the answer: before-answer.ts), answer,
// greeting while the minimum runs, count by the database's clock, then "call validated" or
// "purchase confirmed" and hang up. A call taken up after an IVR restart skips what it already
// had: no second greeting, and only the rest of its minimum.
import { purchasesCompleted } from '../../core/metrics.js';
import type { Database } from '../../db/client.js';
import { countCall, getCall, type CountResult } from '../../db/ledger/index.js';
import { afterCount, greeting, type Answer } from '../../domain/index.js';
import type { Call } from '../call.js';
import { announceThenAnswer } from './before-answer.js';
import type { PlayResult } from '../telephony.js';

export async function payPerCall(call: Call, plan: Answer, db: Database, opts: { seenBefore: boolean }): Promise<void> {
  const result = await answerAndCount(call, plan, db, opts);
  if (!result) return;
  if ((await call.play(afterCount(result.purchase.callsRemaining), plan.language)) !== 'finished') return;
  await call.hangup('normal');
}

/**
 * The paid part every answered call shares: price announcement, answer, greeting while the
 * minimum runs, count. Resolves the count, or null when the script must stop (caller gone,
 * greeting failed, call not credited: then it has hung up).
 */
export async function answerAndCount(call: Call, plan: Omit<Answer, 'action'>, db: Database, opts: { seenBefore: boolean }): Promise<Extract<CountResult, { counted: true }> | null> {
  // Only a channel seen before (IVR restart) may already be answered: no extra read per call.
  const recorded = opts.seenBefore ? await getCall(db, call.channelId) : null;
  const resumed = Boolean(recorded?.answeredAt);
  if (resumed) call.alreadyAnswered();
  else if (!(await announceThenAnswer(call, plan, db))) return null;
  // The greeting plays while the minimum runs. A greeting that cannot be played stops the
  // wait too: nobody waits out the minimum on their bill in silence.
  const greetingFailed = new AbortController();
  const greeted: Promise<PlayResult> = resumed
    ? Promise.resolve('finished')
    : call.play(greeting(plan.callsRemaining), plan.language).then((result) => {
        if (result === 'failed') greetingFailed.abort();
        return result;
      });
  const [result, greetingEnd] = await Promise.all([
    waitThenCount(call, db, resumed ? 0 : plan.minCallSeconds, AbortSignal.any([call.signal, greetingFailed.signal])),
    greeted,
  ]);
  // The caller left (endCall records too_short or counted), or the greeting failed.
  if (!result || greetingEnd !== 'finished') return null;
  if (!result.counted) {
    call.log.warn({ reason: result.reason }, 'answered call not credited');
    await call.hangup('normal');
    return null;
  }
  call.log.info({ purchaseId: result.purchase.id, callsRemaining: result.purchase.callsRemaining, completed: result.completed }, 'call counted');
  if (result.completed) purchasesCompleted.inc({ mode: result.purchase.mode });
  return result;
}

/** Waits for the minimum by the database's clock, then credits; null if stopped first. */
async function waitThenCount(call: Call, db: Database, minCallSeconds: number, signal: AbortSignal): Promise<CountResult | null> {
  let waitMs = minCallSeconds * 1000;
  for (;;) {
    if (!(await call.wait(waitMs, signal))) return null;
    const result = await countCall(db, call.channelId);
    if (result.counted || result.reason !== 'too_early') return result;
    // Our timer and the database clock differ by a few milliseconds: wait the difference.
    waitMs = Math.ceil(result.secondsLeft * 1000) + 20;
  }
}
