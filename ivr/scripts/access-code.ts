// A call on an access-code number (classic ticketing): it pays one call of the caller's formula
// like any answered call (price announcement, answer, "N calls remaining, stay on the line",
// count). At the formula's last call the count issues the code, which is read twice, digit by
// digit; `*` reads it again (a few times at most), then goodbye and hang-up. At an earlier
// call the caller hears how many calls remain. The code is never logged.
import type { Database } from '../../db/client.js';
import { afterCount, codeAnnouncement, codeGoodbye, codeRepeat, CODE_REPEAT_LISTEN_MS, MAX_CODE_REPEATS, type AnswerForCode } from '../../domain/index.js';
import type { Call } from '../call.js';
import { answerAndCount } from './pay-per-call.js';

export async function accessCode(call: Call, plan: AnswerForCode, db: Database, opts: { seenBefore: boolean }): Promise<void> {
  const result = await answerAndCount(call, plan, db, opts);
  if (!result) return;
  if (!result.code) {
    if ((await call.play(afterCount(result.purchase.callsRemaining), plan.language)) !== 'finished') return;
    await call.hangup('normal');
    return;
  }
  if ((await call.play(codeAnnouncement(result.code), plan.language)) !== 'finished') return;
  for (let repeats = 0; repeats < MAX_CODE_REPEATS; repeats++) {
    const digit = await call.digit(CODE_REPEAT_LISTEN_MS);
    if (digit !== '*') break;
    call.log.info({ repeats: repeats + 1 }, 'access code read again');
    if ((await call.play(codeRepeat(result.code), plan.language)) !== 'finished') return;
  }
  if ((await call.play(codeGoodbye(), plan.language)) !== 'finished') return;
  await call.hangup('normal');
}
