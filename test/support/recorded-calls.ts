// Calls recorded through the ledger as the IVR records them, then moved to a chosen time so
// that reports and reconciliations over a fixed period can be checked exactly.
import { sql } from 'drizzle-orm';
import { admitCall, countCall, endCall, markAnswered } from '../../db/ledger/index.js';
import type { Database } from '../../db/client.js';

export type CallKind = 'counted' | 'too_short' | 'lost' | 'refused';

let seq = 0;

/**
 * Records a call of `kind` from `caller` to `dialed` (E.164), then places it at `startedAt`,
 * answered 2 s later (unless refused) for `answeredSeconds`. `counted` needs an offer with no
 * minimum duration and a pending purchase; `too_short` a purchase with a minimum; `refused`
 * a caller with nothing pending.
 */
export async function recordCall(db: Database, kind: CallKind, dialed: string, caller: string, startedAt: Date, answeredSeconds: number): Promise<string> {
  const channelId = `rec-${++seq}-${kind}`;
  const { admission } = await admitCall(
    db,
    { channelId, asteriskId: null, dialedRaw: dialed, dialed, callerRaw: caller, caller },
    { maxCallSeconds: 3600, defaultLanguage: 'fr' },
  );
  if (admission.action !== (kind === 'refused' ? 'reject' : 'answer')) throw new Error(`${kind} call ${channelId} was ${admission.action}ed`);
  if (kind !== 'refused') {
    await markAnswered(db, channelId);
    if (kind === 'counted' && !(await countCall(db, channelId)).counted) throw new Error(`call ${channelId} did not count`);
    await endCall(db, channelId, { lost: kind === 'lost' });
  }
  const answered = kind === 'refused' ? null : new Date(startedAt.getTime() + 2000);
  await db.execute(sql`
    update calls set started_at = ${startedAt.toISOString()}::timestamptz,
                     answered_at = ${answered?.toISOString() ?? null}::timestamptz,
                     counted_at = case when counted_at is null then null else ${answered?.toISOString() ?? null}::timestamptz end,
                     ended_at = ${new Date(startedAt.getTime() + 2000 + answeredSeconds * 1000).toISOString()}::timestamptz,
                     answered_seconds = ${kind === 'refused' ? null : answeredSeconds}
     where channel_id = ${channelId}`);
  return channelId;
}
