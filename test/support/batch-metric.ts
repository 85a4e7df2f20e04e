// How many requests the ledger of this (test) process has run together, per operation: read
// from its sanscode_ledger_batch_size histogram (core/metrics.ts), so that a test can tell its
// requests did share a statement and not all run alone.
import { ledgerBatchSize } from '../../core/metrics.js';

export async function requestsRunTogether(op: 'purchase_creation' | 'purchase_read' | 'event_read'): Promise<number> {
  const v = (await ledgerBatchSize.get()).values.find((x) => x.metricName?.endsWith('_sum') && x.labels.op === op && x.labels.way === 'together');
  return v?.value ?? 0;
}
