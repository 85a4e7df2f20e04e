// A call that pays seconds of a per-second purchase: price announcement (free, before the
// answer), answer, then the timetable of domain/per-second.ts: the time remaining at once and
// every 30 s (in between: silence, or the number's hold sound looped), the ledger credits the
// elapsed seconds every 5 s, and
// CONFIRMATION_SECONDS before the target the last seconds are credited, "purchase confirmed"
// plays and the IVR hangs up, at the target. A caller who hangs up earlier keeps every second
// (endCall credits them). A call taken up after an IVR restart credits first, then follows a
// timetable for what is left.
import type { Database } from '../../db/client.js';
import { purchasesCompleted } from '../../core/metrics.js';
import { creditSeconds, getCall, type SecondsCreditResult } from '../../db/ledger/index.js';
import { holdSound, secondsConfirmed, secondsTimetable, timeRemaining, type Answer } from '../../domain/index.js';
import type { Call } from '../call.js';
import { announceThenAnswer } from './before-answer.js';
import { HoldSound } from './hold-sound.js';
import type { PlayResult } from '../telephony.js';

export async function payPerSecond(call: Call, plan: Answer, db: Database, opts: { seenBefore: boolean }): Promise<void> {
  const recorded = opts.seenBefore ? await getCall(db, call.channelId) : null;
  let remaining = plan.secondsRemaining ?? 0;
  if (recorded?.answeredAt) {
    call.alreadyAnswered();
    const resumed = await creditSeconds(db, call.channelId);
    if (!(await goOn(call, resumed, plan))) return;
    remaining = resumed.credited ? (resumed.purchase.secondsRemaining ?? 0) : 0;
  } else if (!(await announceThenAnswer(call, plan, db))) return;

  // Times are counted from here, just after the ledger noted the answer: the ledger's clock
  // (from answered_at) is never behind this one, so a step never credits less than planned.
  const start = performance.now();
  const hold = plan.holdSound ? new HoldSound(call, holdSound(plan.holdSound), plan.language) : null;
  try {
    await followTimetable(call, plan, db, remaining, start, hold);
  } finally {
    await hold?.close();
  }
}

async function followTimetable(call: Call, plan: Answer, db: Database, remaining: number, start: number, hold: HoldSound | null): Promise<void> {
  // An announcement plays while the timetable goes on; one that cannot be played ends the call
  // (nobody stays billed in silence because the prompts are broken).
  const announcementFailed = new AbortController();
  const signal = AbortSignal.any([call.signal, announcementFailed.signal]);
  // Announcements are chained, never two at once; each cuts the hold sound and resumes it.
  let announcing: Promise<PlayResult> = Promise.resolve('finished');
  const announce = async (secondsRemaining: number): Promise<PlayResult> => {
    await hold?.pause();
    const result = await call.play(timeRemaining(secondsRemaining), plan.language);
    if (result === 'failed') announcementFailed.abort();
    if (result === 'finished') hold?.resume();
    return result;
  };
  const steps = secondsTimetable(remaining);
  if (steps[0]?.kind !== 'announce') hold?.resume();
  for (const step of steps) {
    if (!(await call.wait(Math.max(0, step.atSeconds * 1000 - (performance.now() - start)), signal))) return;
    switch (step.kind) {
      case 'announce':
        announcing = announcing.then(() => announce(step.secondsRemaining));
        break;
      case 'credit': {
        const result = await creditSeconds(db, call.channelId);
        if (!(result.credited && !result.completed)) await hold?.pause();
        if (!(await goOn(call, result, plan))) return;
        break;
      }
      case 'confirm': {
        // The timetable lets the last announcement end first; wait for it all the same, so
        // two prompts never queue on the channel.
        if ((await announcing) !== 'finished') return;
        await hold?.pause();
        const result = await confirm(call, db, signal);
        // Completed: confirmed and hung up; refused: hung up. Null: the caller left.
        if (result) await goOn(call, result, plan);
        return;
      }
    }
  }
}

/**
 * Credits with the confirmation allowance until the purchase completes; our timer may run a
 * few milliseconds ahead of the database's clock, so a refusal says how long to wait.
 */
async function confirm(call: Call, db: Database, signal: AbortSignal): Promise<SecondsCreditResult | null> {
  for (;;) {
    const result = await creditSeconds(db, call.channelId, { confirming: true });
    if (!result.credited || result.completed) return result;
    if (!(await call.wait(Math.ceil(result.secondsUntilCompletion * 1000) + 20, signal))) return null;
  }
}

/**
 * After a credit: true to go on with the timetable; otherwise the call is over for us (the
 * purchase completed: confirmed and hung up; it cannot take seconds any more: hung up).
 */
async function goOn(call: Call, result: SecondsCreditResult, plan: Answer): Promise<boolean> {
  if (result.credited && !result.completed) return true;
  if (result.credited) {
    purchasesCompleted.inc({ mode: result.purchase.mode });
    call.log.info({ purchaseId: result.purchase.id, seconds: result.seconds }, 'per-second purchase completed');
    if ((await call.play(secondsConfirmed(), plan.language)) !== 'finished') return false;
  } else {
    call.log.warn({ reason: result.reason }, 'answered per-second call not credited');
  }
  await call.hangup('normal');
  return false;
}
