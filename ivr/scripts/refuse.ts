// A call we cannot credit: explained as early media, then refused. Never answered, so never
// billed (the SIP caller gets 183, the prompt, then 486 or 503).
import type { Refusal } from '../../domain/index.js';
import { refusal } from '../../domain/index.js';
import type { Call } from '../call.js';

export async function refuse(call: Call, plan: Refusal): Promise<void> {
  await call.progress();
  if ((await call.play(refusal(plan.outcome), plan.language)) !== 'finished') return;
  await call.hangup(plan.outcome === 'failed' ? 'congestion' : 'busy');
}
