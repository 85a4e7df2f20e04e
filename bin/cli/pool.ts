// sanscode pool show
import { z } from 'zod';
import { getOffer, poolStatus } from '../../db/ledger/index.js';
import { emit, parseCommand, Refusal, table, UsageError, type Command } from './shared.js';

const HELP = `
usage: sanscode pool show OFFER_ID [--json]

The numbers of a dynamic_number offer's pool: free, lent (until the end of the hold, to which
purchase) or resting (until the end of the quarantine).
`;

export const poolCommand: Command = {
  name: 'pool',
  summary: "show: the state of a dynamic-number offer's pool",
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') return ctx.out(HELP.trim());
    if (sub !== 'show') throw new UsageError(`unknown subcommand "${sub}" (show)`);
    const args = parseCommand(rest, ctx, HELP, {}, { min: 1, max: 1, names: 'OFFER_ID' });
    if (!args) return;
    const id = args.positionals[0]!;
    if (!z.uuid().safeParse(id).success) throw new UsageError(`"${id}" is not an offer id (UUID)`);
    const db = await ctx.db();
    const offer = await getOffer(db, id);
    if (!offer) throw new Refusal(`no offer with id ${id}`);
    if (offer.mode !== 'dynamic_number') throw new Refusal(`offer ${id} has no number pool (mode ${offer.mode})`);
    const numbers = await poolStatus(db, id);
    const count = (state: string) => numbers.filter((n) => n.state === state).length;
    const summary = { offerId: id, free: count('free'), lent: count('lent'), resting: count('resting'), numbers };
    emit(ctx, args.values.json, summary, () =>
      [
        `${summary.free} free, ${summary.lent} lent, ${summary.resting} resting`,
        '',
        table(['number', 'state', 'until', 'purchase'], numbers.map((n) => [n.number, n.state, n.until, n.purchaseId])),
      ].join('\n'),
    );
  },
};
