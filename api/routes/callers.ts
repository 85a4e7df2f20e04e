// A caller's rights (issue 13): phone numbers are personal data. The operator can read
// everything recorded about a number, across merchants, and anonymise it once the retention
// period allows (RETENTION_DAYS). Validate, call the ledger, shape the answer.
import { Router } from 'express';
import type { Database } from '../../db/client.js';
import { anonymiseCaller, callerRecord, type listCalls } from '../../db/ledger/index.js';
import { phoneOr422 } from '../input.js';
import type { AnonymisationResponse, CallerRecordResponse, CallRecordResponse } from '../schemas.js';

export function callerRoutes(db: Database, defaultRegion: string, retentionDays: number): Router {
  const router = Router();

  /** GET /v1/admin/callers/{number} — purchases (every merchant), calls, codes. */
  router.get('/:number', async (req, res) => {
    const number = phoneOr422('number', req.params.number, defaultRegion);
    const record = await callerRecord(db, number);
    res.json({
      number: record.number,
      purchases: record.purchases,
      calls: record.calls.map(callJson),
      codes: record.codes,
    } satisfies CallerRecordResponse);
  });

  /**
   * DELETE /v1/admin/callers/{number} — anonymises the records older than the retention period;
   * the rest is kept and counted, with the date from which it can go too.
   */
  router.delete('/:number', async (req, res) => {
    const number = phoneOr422('number', req.params.number, defaultRegion);
    const done = await anonymiseCaller(db, number, retentionDays);
    res.json({ ...done, erasableFrom: done.erasableFrom?.toISOString() ?? null } satisfies AnonymisationResponse);
  });

  return router;
}

/** A call of the record as the operator reads it (call list, a caller's record). */
export function callJson(c: Awaited<ReturnType<typeof listCalls>>[number]): CallRecordResponse {
  return {
    channelId: c.channelId,
    asteriskId: c.asteriskId,
    dialedNumber: c.dialedNumber ?? c.dialedRaw,
    callerNumber: c.callerNumber,
    outcome: c.outcome,
    purchaseId: c.purchaseId,
    startedAt: c.startedAt.toISOString(),
    answeredAt: c.answeredAt?.toISOString() ?? null,
    countedAt: c.countedAt?.toISOString() ?? null,
    endedAt: c.endedAt?.toISOString() ?? null,
    answeredSeconds: c.answeredSeconds,
    hangupCause: c.hangupCause,
    hangupCauseText: c.hangupCauseText,
    issuedCode: c.issuedCode,
  };
}
