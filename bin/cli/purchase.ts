// sanscode purchase show
import { z } from 'zod';
import { creditsOfPurchase, listCalls, purchaseDetails } from '../../db/ledger/index.js';
import { emit, parseCommand, record, Refusal, table, UsageError, type Command } from './shared.js';

const HELP = `
usage: sanscode purchase show PURCHASE_ID [--json]

Any merchant's purchase: its state, its calls, the operator's credits, and its event trail.
`;

export const purchaseCommand: Command = {
  name: 'purchase',
  summary: 'show: a purchase with its calls, credits and events',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') return ctx.out(HELP.trim());
    if (sub !== 'show') throw new UsageError(`unknown subcommand "${sub}" (show)`);
    const args = parseCommand(rest, ctx, HELP, {}, { min: 1, max: 1, names: 'PURCHASE_ID' });
    if (!args) return;
    const id = args.positionals[0]!;
    if (!z.uuid().safeParse(id).success) throw new UsageError(`"${id}" is not a purchase id (UUID)`);
    const db = await ctx.db();
    const details = await purchaseDetails(db, id);
    if (!details) throw new Refusal(`no purchase with id ${id}`);
    const calls = await listCalls(db, { purchaseId: id, limit: 1000 });
    const credits = await creditsOfPurchase(db, id);
    const p = details.purchase;
    emit(ctx, args.values.json, { ...details, calls, credits }, () =>
      [
        record([
          ['id', p.id],
          ['merchant', `${details.merchantName} (${details.merchantId})`],
          ['offer', `${details.offerName} (${p.offerId})`],
          ['mode', p.mode],
          ['status', p.status],
          ['calls', `${p.callsCounted}/${p.callsRequired}`],
          ['reference', p.reference],
          ['callerNumber', p.callerNumber],
          ['numberToCall', p.numberToCall],
          ['createdAt', p.createdAt],
          ['expiresAt', p.expiresAt],
          ['completedAt', p.completedAt],
        ]),
        '',
        'Calls:',
        table(
          ['started', 'channel', 'caller', 'outcome', 'answered s'],
          calls.map((c) => [c.startedAt, c.channelId, c.callerNumber ?? c.callerRaw, c.outcome, c.answeredSeconds]),
        ),
        ...(credits.length > 0 ? ['', 'Credits:', table(['at', 'channel', 'by', 'reason'], credits.map((c) => [c.createdAt, c.channelId, c.creditedBy, c.reason]))] : []),
        '',
        'Events:',
        table(['at', 'event', 'counted'], details.events.map((e) => [e.createdAt, e.type, e.callsCounted])),
      ].join('\n'),
    );
  },
};
