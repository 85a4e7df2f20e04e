// A call as the IVR drives the ledger, without Asterisk: admit, answer, count, hang up. For
// tests about what calls do to purchases; the IVR's own behaviour is tested in call-flow.
import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/client.js';
import { admitCall, countCall, endCall, markAnswered, type CountResult } from '../../db/ledger/index.js';
import { answers, type CallFacts, type CallPlan } from '../../domain/index.js';

export interface SimulatedCall {
  /** Default: a fresh id. The same id twice is the same channel (admission is idempotent). */
  channelId?: string;
  /** E.164, or null for a dialed number that could not be read. */
  dialed: string | null;
  /** E.164, or null for a withheld caller. */
  caller: string | null;
  /** As Asterisk gave them; default the E.164 number (or "anonymous"). */
  dialedRaw?: string;
  callerRaw?: string;
  /** Answer the call if it is admitted (default true). */
  answer?: boolean;
  /** Count it once answered (default true); the purchase's minimum must be 0 for it to count now. */
  count?: boolean;
  /** Hang up at the end (default false: the test may end the call itself). */
  hangUp?: boolean;
}

export interface SimulatedCallResult {
  facts: CallFacts;
  admission: CallPlan;
  duplicate: boolean;
  /** countCall's answer, when the call was answered and counted. */
  count: CountResult | null;
}

export async function simulateCall(db: Database, call: SimulatedCall): Promise<SimulatedCallResult> {
  const facts: CallFacts = {
    channelId: call.channelId ?? `sim-${randomUUID()}`,
    asteriskId: 'node-test',
    dialedRaw: call.dialedRaw ?? call.dialed ?? '',
    dialed: call.dialed,
    callerRaw: call.callerRaw ?? call.caller ?? 'anonymous',
    caller: call.caller,
  };
  const { admission, duplicate } = await admitCall(db, facts, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
  let count: CountResult | null = null;
  if (answers(admission) && (call.answer ?? true)) {
    await markAnswered(db, facts.channelId);
    if (call.count ?? true) count = await countCall(db, facts.channelId);
  }
  if (call.hangUp) await endCall(db, facts.channelId, { cause: 16, causeText: 'Normal Clearing' });
  return { facts, admission, duplicate, count };
}
