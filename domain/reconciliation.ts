// Carrier reconciliation: the carrier's statement of billed calls against our call record.
// Pure: the statement arrives parsed (numbers in E.164), the calls are read by the ledger.
import type { CallOutcome } from './vocabulary.js';

/** One line of the carrier's statement. */
export interface BilledCall {
  /** Line number in the statement file (the header is line 1), to point the operator at it. */
  line: number;
  start: Date;
  /** E.164, or null when the carrier shows the caller as withheld. */
  caller: string | null;
  /** E.164 premium number that was called. */
  called: string;
  billedSeconds: number;
}

export interface MerchantRef {
  id: string;
  name: string;
}

/** A call of our record, as the reconciliation needs it. */
export interface RecordedCall {
  id: string;
  channelId: string;
  startedAt: Date;
  answeredAt: Date | null;
  caller: string | null;
  dialed: string | null;
  outcome: CallOutcome;
  answeredSeconds: number | null;
  /** The merchant of the call's purchase (or of its number, when only one merchant uses it). */
  merchant: MerchantRef | null;
}

export interface ReconcileOptions {
  /** Largest gap between the statement's start and our call's start or answer. */
  toleranceSeconds: number;
  /** Largest accepted |billed seconds − our answered seconds| for a matched credited call. */
  durationToleranceSeconds: number;
  /** Credited calls answered in this period must appear on the statement. */
  period: { from: Date; to: Date };
  /** Merchant of a number used by one merchant only: attributes billed lines we cannot match. */
  numberMerchants?: ReadonlyMap<string, MerchantRef>;
}

export interface Totals {
  /** The number (per number) or the merchant's id (per merchant; null: unknown merchant). */
  key: string | null;
  /** The merchant's name (per merchant only). */
  name: string | null;
  billedCalls: number;
  billedSeconds: number;
  creditedCalls: number;
  /** Sum of our answered seconds over the credited calls (those still under way count 0). */
  creditedSeconds: number;
  billedNotCredited: number;
  creditedNotBilled: number;
  durationMismatches: number;
}

export interface Reconciliation {
  /** Billed lines with no call of ours (call null), or whose call was not credited. */
  billedNotCredited: { billed: BilledCall; call: RecordedCall | null }[];
  /** Credited calls of the period that no statement line matched. */
  creditedNotBilled: RecordedCall[];
  /** Matched credited calls whose durations differ by more than the tolerance. */
  durationMismatches: { billed: BilledCall; call: RecordedCall; differenceSeconds: number }[];
  /** Statement lines matched to a credited call whose duration agrees. */
  agreed: number;
  perNumber: Totals[];
  perMerchant: Totals[];
}

/** Seconds between the carrier's start and our call's start or answer, whichever is closer. */
export function secondsApart(billed: BilledCall, call: RecordedCall): number {
  const gap = (d: Date) => Math.abs(billed.start.getTime() - d.getTime()) / 1000;
  return Math.min(gap(call.startedAt), call.answeredAt ? gap(call.answeredAt) : Infinity);
}

/**
 * Pairs statement lines with our calls, one to one: same called number, same caller, started
 * (or answered: carriers differ on what "start" means) within the tolerance. Among candidates,
 * answered calls come first (only those can have been billed), then the closest in time.
 */
export function matchCalls(billed: readonly BilledCall[], calls: readonly RecordedCall[], toleranceSeconds: number): Map<BilledCall, RecordedCall> {
  const candidates: { billed: BilledCall; call: RecordedCall; unanswered: number; apart: number }[] = [];
  for (const b of billed) {
    for (const c of calls) {
      if (c.dialed !== b.called || c.caller !== b.caller) continue;
      const apart = secondsApart(b, c);
      if (apart <= toleranceSeconds) candidates.push({ billed: b, call: c, unanswered: c.answeredAt ? 0 : 1, apart });
    }
  }
  candidates.sort(
    (x, y) =>
      x.unanswered - y.unanswered ||
      x.apart - y.apart ||
      x.billed.line - y.billed.line ||
      x.call.startedAt.getTime() - y.call.startedAt.getTime() ||
      (x.call.id < y.call.id ? -1 : x.call.id > y.call.id ? 1 : 0),
  );
  const pairs = new Map<BilledCall, RecordedCall>();
  const taken = new Set<RecordedCall>();
  for (const { billed: b, call: c } of candidates) {
    if (pairs.has(b) || taken.has(c)) continue;
    pairs.set(b, c);
    taken.add(c);
  }
  return pairs;
}

export function reconcile(billed: readonly BilledCall[], calls: readonly RecordedCall[], opts: ReconcileOptions): Reconciliation {
  const pairs = matchCalls(billed, calls, opts.toleranceSeconds);
  const matchedCalls = new Set(pairs.values());
  const result: Reconciliation = { billedNotCredited: [], creditedNotBilled: [], durationMismatches: [], agreed: 0, perNumber: [], perMerchant: [] };
  const byNumber = new Map<string, Totals>();
  const byMerchant = new Map<string | null, Totals>();
  const totalsOf = (number: string | null, merchant: MerchantRef | null): Totals[] => {
    const key = number ?? '(unknown)';
    let n = byNumber.get(key);
    if (!n) byNumber.set(key, (n = emptyTotals(key, null)));
    let m = byMerchant.get(merchant?.id ?? null);
    if (!m) byMerchant.set(merchant?.id ?? null, (m = emptyTotals(merchant?.id ?? null, merchant?.name ?? null)));
    return [n, m];
  };

  for (const b of billed) {
    const call = pairs.get(b) ?? null;
    const totals = totalsOf(b.called, call?.merchant ?? opts.numberMerchants?.get(b.called) ?? null);
    for (const t of totals) {
      t.billedCalls++;
      t.billedSeconds += b.billedSeconds;
    }
    if (!call || call.outcome !== 'counted') {
      result.billedNotCredited.push({ billed: b, call });
      for (const t of totals) t.billedNotCredited++;
    } else if (call.answeredSeconds !== null && Math.abs(b.billedSeconds - call.answeredSeconds) > opts.durationToleranceSeconds) {
      result.durationMismatches.push({ billed: b, call, differenceSeconds: b.billedSeconds - call.answeredSeconds });
      for (const t of totals) t.durationMismatches++;
    } else {
      result.agreed++;
    }
  }

  const from = opts.period.from.getTime();
  const to = opts.period.to.getTime();
  for (const c of calls) {
    if (c.outcome !== 'counted') continue;
    const answered = (c.answeredAt ?? c.startedAt).getTime();
    // A credited call matched by the statement counts wherever it falls; an unmatched one
    // only inside the statement's period.
    if (!matchedCalls.has(c) && (answered < from || answered > to)) continue;
    const totals = totalsOf(c.dialed, c.merchant);
    for (const t of totals) {
      t.creditedCalls++;
      t.creditedSeconds += c.answeredSeconds ?? 0;
    }
    if (!matchedCalls.has(c)) {
      result.creditedNotBilled.push(c);
      for (const t of totals) t.creditedNotBilled++;
    }
  }

  result.perNumber = [...byNumber.values()].sort((x, y) => String(x.key).localeCompare(String(y.key)));
  // Unknown merchant last.
  result.perMerchant = [...byMerchant.values()].sort((x, y) => (x.name === null ? 1 : y.name === null ? -1 : x.name.localeCompare(y.name) || String(x.key).localeCompare(String(y.key))));
  result.creditedNotBilled.sort((x, y) => x.startedAt.getTime() - y.startedAt.getTime());
  return result;
}

function emptyTotals(key: string | null, name: string | null): Totals {
  return { key, name, billedCalls: 0, billedSeconds: 0, creditedCalls: 0, creditedSeconds: 0, billedNotCredited: 0, creditedNotBilled: 0, durationMismatches: 0 };
}
