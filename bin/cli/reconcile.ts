// sanscode reconcile FILE
import { readFile } from 'node:fs/promises';
import { callsForReconciliation, numberMerchants } from '../../db/ledger/index.js';
import { reconcile, type Reconciliation, type RecordedCall, type Totals } from '../../domain/reconciliation.js';
import { csvLine, emit, parseCommand, parseTimestamp, table, UsageError, type Cell, type Command } from './shared.js';
import { parseStatement, STATEMENT_COLUMNS } from './statement.js';

const HELP = `
usage: sanscode reconcile FILE [--tolerance S] [--duration-tolerance S] [--from TIME] [--to TIME]
                               [--csv [--totals]] [--json]

Matches the carrier's billing statement (FILE, or - for stdin) against the call record and
reports billed calls that were not credited, credited calls the carrier did not bill, duration
mismatches, and totals per number and per merchant.

FILE: CSV with a header line, delimiter , or ; and the columns (others are ignored):
  ${STATEMENT_COLUMNS.join(', ')}
  start           when the call started or was answered: 2026-11-01T10:00:00Z,
                  2026-11-01 10:00:00 (UTC), or with an offset: 2026-11-01 10:00:00+01:00
  caller          calling number (empty or anonymous: withheld)
  called          premium number called
  billed_seconds  billed duration in seconds

A line matches one call, one to one: same called number and caller, our call started or
answered within --tolerance seconds of start (default 5). A matched credited call whose
answered seconds differ from billed_seconds by more than --duration-tolerance (default 2) is a
duration mismatch. Credited calls must be on the statement when answered between --from and
--to (default: the statement's first and last start, widened by --tolerance).

--csv            the discrepancies as CSV (one row each, with a category column)
--csv --totals   the totals per number and per merchant as CSV
`;

const seconds = (flag: string, raw: string | undefined, fallback: number) => {
  if (raw === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 86400) throw new UsageError(`--${flag}: "${raw}" is not a number of seconds (0-86400)`);
  return Number(raw);
};

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: "match the carrier's billing statement (CSV) against the call record",
  async run(argv, ctx) {
    const args = parseCommand(
      argv,
      ctx,
      HELP,
      {
        tolerance: { type: 'string' },
        'duration-tolerance': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        csv: { type: 'boolean' },
        totals: { type: 'boolean' },
      },
      { min: 1, max: 1, names: 'FILE (the statement, or - for stdin)' },
    );
    if (!args) return;
    const v = args.values as Record<string, string | boolean | undefined>;
    const tolerance = seconds('tolerance', v.tolerance as string | undefined, 5);
    const durationTolerance = seconds('duration-tolerance', v['duration-tolerance'] as string | undefined, 2);
    const time = (flag: 'from' | 'to') => {
      const raw = v[flag] as string | undefined;
      if (raw === undefined) return undefined;
      const at = parseTimestamp(raw);
      if (!at) throw new UsageError(`--${flag}: "${raw}" is not a time such as 2026-11-01 or 2026-11-01T10:00:00Z`);
      return at;
    };
    if (v.totals && !v.csv) throw new UsageError('--totals goes with --csv');
    if (v.csv && v.json) throw new UsageError('give --csv or --json, not both');

    const file = args.positionals[0]!;
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const billed = parseStatement(text, ctx.region);
    // The statement's first and last start, widened by the tolerance.
    const margin = tolerance * 1000;
    const first = billed.reduce((min, b) => Math.min(min, b.start.getTime() - margin), Infinity);
    const last = billed.reduce((max, b) => Math.max(max, b.start.getTime() + margin), -Infinity);
    const from = time('from') ?? (billed.length > 0 ? new Date(first) : undefined);
    const to = time('to') ?? (billed.length > 0 ? new Date(last) : undefined);
    if (!from || !to) throw new UsageError('the statement lists no call: give --from and --to');
    if (to <= from) throw new UsageError('--to must be after --from');

    const db = await ctx.db();
    // Every call a line may match, and every credited call of the period.
    const calls = await callsForReconciliation(db, { from: new Date(Math.min(from.getTime(), first)), to: new Date(Math.max(to.getTime(), last)) });
    const result = reconcile(billed, calls, {
      toleranceSeconds: tolerance,
      durationToleranceSeconds: durationTolerance,
      period: { from, to },
      numberMerchants: await numberMerchants(db),
    });
    if (v.csv) return ctx.out(v.totals ? totalsCsv(result) : discrepanciesCsv(result));
    emit(ctx, args.values.json, { from: from.toISOString(), to: to.toISOString(), statementLines: billed.length, ...result }, () => render(result, billed.length, from, to));
  },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const callCells = (c: RecordedCall | null): Cell[] => [c?.channelId, c?.startedAt, c?.answeredAt, c?.outcome, c?.answeredSeconds, c?.merchant?.name];
const CALL_HEADERS = ['channel', 'call started', 'answered', 'outcome', 'answered s', 'merchant'];

function render(r: Reconciliation, lines: number, from: Date, to: Date): string {
  return [
    `${lines} billed line(s); credited calls checked from ${from.toISOString()} to ${to.toISOString()}.`,
    `${r.agreed} agree, ${r.billedNotCredited.length} billed not credited, ${r.creditedNotBilled.length} credited not billed, ${r.durationMismatches.length} duration mismatch(es).`,
    '',
    'Billed, not credited:',
    table(['line', 'start', 'caller', 'called', 'billed s', ...CALL_HEADERS], r.billedNotCredited.map(({ billed: b, call }) => [b.line, b.start, b.caller, b.called, b.billedSeconds, ...callCells(call)])),
    '',
    'Credited, not billed:',
    table(['dialed', 'caller', ...CALL_HEADERS], r.creditedNotBilled.map((c) => [c.dialed, c.caller, ...callCells(c)])),
    '',
    'Duration mismatches:',
    table(
      ['line', 'start', 'caller', 'called', 'billed s', 'answered s', 'difference s', 'channel', 'merchant'],
      r.durationMismatches.map(({ billed: b, call, differenceSeconds }) => [b.line, b.start, b.caller, b.called, b.billedSeconds, call.answeredSeconds, differenceSeconds, call.channelId, call.merchant?.name]),
    ),
    '',
    'Totals per number:',
    totalsTable(r.perNumber, 'number'),
    '',
    'Totals per merchant:',
    totalsTable(r.perMerchant, 'merchant'),
  ].join('\n');
}

const TOTAL_HEADERS = ['billed', 'billed s', 'credited', 'credited s', 'billed not credited', 'credited not billed', 'duration mismatches'];
const totalCells = (t: Totals): Cell[] => [t.billedCalls, t.billedSeconds, t.creditedCalls, t.creditedSeconds, t.billedNotCredited, t.creditedNotBilled, t.durationMismatches];

function totalsTable(totals: Totals[], scope: 'number' | 'merchant'): string {
  return table([scope, ...TOTAL_HEADERS], totals.map((t) => [scope === 'number' ? t.key : (t.name ?? '(unknown)'), ...totalCells(t)]));
}

function discrepanciesCsv(r: Reconciliation): string {
  const rows: Cell[][] = [
    ...r.billedNotCredited.map(({ billed: b, call }) => ['billed_not_credited', b.line, b.start, b.caller, b.called, b.billedSeconds, call?.channelId, call?.startedAt, call?.outcome, call?.answeredSeconds, null, call?.merchant?.name]),
    ...r.creditedNotBilled.map((c) => ['credited_not_billed', null, null, c.caller, c.dialed, null, c.channelId, c.startedAt, c.outcome, c.answeredSeconds, null, c.merchant?.name]),
    ...r.durationMismatches.map(({ billed: b, call: c, differenceSeconds }) => ['duration_mismatch', b.line, b.start, b.caller, b.called, b.billedSeconds, c.channelId, c.startedAt, c.outcome, c.answeredSeconds, differenceSeconds, c.merchant?.name]),
  ];
  const header = ['category', 'line', 'start', 'caller', 'called', 'billed_seconds', 'channel_id', 'call_started', 'outcome', 'answered_seconds', 'difference_seconds', 'merchant'];
  return [csvLine(header), ...rows.map(csvLine)].join('\n');
}

function totalsCsv(r: Reconciliation): string {
  const header = ['scope', 'key', 'merchant', 'billed_calls', 'billed_seconds', 'credited_calls', 'credited_seconds', 'billed_not_credited', 'credited_not_billed', 'duration_mismatches'];
  const rows = [
    ...r.perNumber.map((t) => ['number', t.key, null, ...totalCells(t)]),
    ...r.perMerchant.map((t) => ['merchant', t.key, t.name, ...totalCells(t)]),
  ];
  return [csvLine(header), ...rows.map(csvLine)].join('\n');
}
