// A call that pays one call of a purchase: price announcement and identity prompt (whom the
// caller pays; both free, before the answer), answer,
// greeting while the minimum runs, count by the database's clock, then "call validated" or
// "purchase confirmed" and hang up. A call taken up after an IVR restart skips what it already
// had: no second greeting, and only the rest of its minimum.
import type { Database } from '../../db/client.js';
import { countCall, disputeCall, getCall, type CountResult } from '../../db/ledger/index.js';
import { afterCount, greeting, identityPrompt, priceAnnouncement, type Answer } from '../../domain/index.js';
import type { Call } from '../call.js';
import type { PlayResult } from '../telephony.js';

/** How long after a failed identity prompt the end of the channel must come for the caller to have hung up. */
const CALLER_LEFT_GRACE_MS = 1_000;

export async function payPerCall(call: Call, plan: Answer, db: Database, opts: { seenBefore: boolean }): Promise<void> {
  // Only a channel seen before (IVR restart) may already be answered: no extra read per call.
  const recorded = opts.seenBefore ? await getCall(db, call.channelId) : null;
  const resumed = Boolean(recorded?.answeredAt);
  if (resumed) call.alreadyAnswered();
  else {
    if (plan.priceAnnouncement || plan.identity) await call.progress();
    if (plan.priceAnnouncement) {
      // The mandatory price announcement must be free: play it before answering.
      if ((await call.play(priceAnnouncement(plan.priceAnnouncement), plan.language)) !== 'finished') return;
    }
    if (plan.identity) {
      // Whom the caller pays, still free: a caller who did not make this purchase hangs up now
      // and is not charged; the purchase is then marked disputed for its merchant.
      call.log.info({ purchaseId: plan.purchaseId, identity: plan.identity }, 'identity prompt');
      const heard = await call.play(identityPrompt(plan.identity), plan.language);
      if (heard !== 'finished') {
        // Asterisk reports a playback cut by the caller's hang-up as failed, just before the
        // channel's end: wait briefly for that end to tell a caller who left from a broken prompt.
        const callerLeft = heard === 'cancelled' || !(await call.wait(CALLER_LEFT_GRACE_MS));
        if (callerLeft && !call.stopped) {
          const disputed = await disputeCall(db, call.channelId);
          call.log.warn({ purchaseId: disputed?.id ?? plan.purchaseId }, 'caller hung up during the identity prompt: purchase disputed');
        }
        return;
      }
    }
    await call.answer();
  }
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
  if (!result || greetingEnd !== 'finished') return;
  if (!result.counted) {
    call.log.warn({ reason: result.reason }, 'answered call not credited');
    await call.hangup('normal');
    return;
  }
  call.log.info({ purchaseId: result.purchase.id, callsRemaining: result.purchase.callsRemaining, completed: result.completed }, 'call counted');
  if ((await call.play(afterCount(result.purchase.callsRemaining), plan.language)) !== 'finished') return;
  await call.hangup('normal');
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
