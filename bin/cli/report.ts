// sanscode report
import { revenueReport, type ReportFigures } from '../../db/ledger/index.js';
import { emit, parseCommand, parseTimestamp, table, UsageError, type Cell, type Command } from './shared.js';

const HELP = `
usage: sanscode report --from TIME [--to TIME] [--json]

Calls, answered minutes and completed purchases per merchant, offer and number, for calls
started and purchases completed from --from (inclusive) to --to (exclusive; default now).
TIME: 2026-11-01 (midnight UTC), 2026-11-01T10:00:00Z, or 2026-11-01 10:00:00[+01:00].
Calls refused without a purchase are put under the offer of their number when only one
offer uses it, else under no offer.
`;

const minutes = (seconds: number) => Math.round((seconds / 60) * 10) / 10;
const figures = (f: ReportFigures): Cell[] => [f.calls, f.answeredCalls, f.countedCalls, minutes(f.answeredSeconds), f.completedPurchases];
const FIGURE_HEADERS = ['calls', 'answered', 'counted', 'answered min', 'completed purchases'];

export const reportCommand: Command = {
  name: 'report',
  summary: 'calls, answered minutes, completed purchases per merchant, offer and number (--from --to)',
  async run(argv, ctx) {
    const args = parseCommand(argv, ctx, HELP, { from: { type: 'string' }, to: { type: 'string' } }, { min: 0, max: 0, names: '' });
    if (!args) return;
    const time = (flag: 'from' | 'to') => {
      const raw = args.values[flag] as string | undefined;
      if (raw === undefined) return undefined;
      const at = parseTimestamp(raw);
      if (!at) throw new UsageError(`--${flag}: "${raw}" is not a time such as 2026-11-01 or 2026-11-01T10:00:00Z`);
      return at;
    };
    const from = time('from');
    if (!from) throw new UsageError('--from: required');
    const to = time('to') ?? new Date();
    if (to <= from) throw new UsageError('--to must be after --from');
    const report = await revenueReport(await ctx.db(), { from, to });
    emit(ctx, args.values.json, report, () =>
      [
        `From ${report.from} to ${report.to} (exclusive)`,
        '',
        table(
          ['merchant', 'offer', 'number', ...FIGURE_HEADERS],
          report.rows.map((r) => [r.merchantName ?? '(no offer)', r.offerName ?? '(no offer)', r.number, ...figures(r)]),
        ),
        '',
        'Per merchant:',
        table(['merchant', ...FIGURE_HEADERS], [...report.perMerchant.map((m) => [m.merchantName ?? '(no offer)', ...figures(m)]), ['TOTAL', ...figures(report.total)]]),
      ].join('\n'),
    );
  },
};
