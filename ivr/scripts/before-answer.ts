// What every paid call hears before it is billed, as free early media: the number's price
// announcement, then whom the caller pays (the identity prompt: a caller who did not make this
// purchase hangs up now, is never answered, and the purchase is marked disputed). Then the
// answer. Shared by the per-call, per-second and access-code scripts.
import type { Database } from '../../db/client.js';
import { disputeCall } from '../../db/ledger/index.js';
import { identityPrompt, priceAnnouncement, type Answer } from '../../domain/index.js';
import type { Call } from '../call.js';

/** How long after a failed identity prompt the end of the channel must come for the caller to have hung up. */
const CALLER_LEFT_GRACE_MS = 1_000;

/** Resolves true once answered; false when the script must stop (caller gone, prompt failed). */
export async function announceThenAnswer(call: Call, plan: Pick<Answer, 'purchaseId' | 'language' | 'priceAnnouncement' | 'identity'>, db: Database): Promise<boolean> {
  if (plan.priceAnnouncement || plan.identity) await call.progress();
  if (plan.priceAnnouncement) {
    // The mandatory price announcement must be free: play it before answering.
    if ((await call.play(priceAnnouncement(plan.priceAnnouncement), plan.language)) !== 'finished') return false;
  }
  if (plan.identity) {
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
      return false;
    }
  }
  await call.answer();
  return true;
}
