// A channel taken up after an IVR restart whose call was settled while the IVR was away: say
// where the purchase stands, then hang up.
import { afterCount, type Conclusion } from '../../domain/index.js';
import type { Call } from '../call.js';

export async function conclude(call: Call, plan: Conclusion): Promise<void> {
  call.alreadyAnswered();
  if ((await call.play(afterCount(plan.callsRemaining), plan.language)) !== 'finished') return;
  await call.hangup('normal');
}
