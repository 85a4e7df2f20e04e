// sanscode credit
import { z } from 'zod';
import { creditLostCall } from '../../db/ledger/index.js';
import { emit, parseCommand, record, validate, type Command } from './shared.js';

const HELP = `
usage: sanscode credit CALL --reason TEXT [--json]

Credits a lost call to its purchase: a call the IVR lost (outcome lost, e.g. in a crash) that
the carrier billed. CALL is its channel id, as \`sanscode calls --outcome lost\` lists it (or its
id). Only an answered lost call is eligible, once, and only while its purchase can take it
(not completed nor cancelled; an expired purchase still takes a call the buyer paid for, and
completes if it was the last one missing). The credit raises the usual events and webhooks;
your OS user and the reason are kept in the audit trail.
`;

export const creditCommand: Command = {
  name: 'credit',
  summary: 'credit a lost call the carrier billed to its purchase (--reason required)',
  async run(argv, ctx) {
    const args = parseCommand(argv, ctx, HELP, { reason: { type: 'string' } }, { min: 1, max: 1, names: 'CALL (its channel id)' });
    if (!args) return;
    const { reason } = validate(
      z.object({ reason: z.string({ error: 'required: why you credit this call (kept in the audit trail)' }).trim().min(1, 'must not be empty').max(500) }),
      { reason: args.values.reason },
    );
    const result = await creditLostCall(await ctx.db(), args.positionals[0]!, { by: ctx.user, reason });
    emit(ctx, args.values.json, result, () =>
      record([
        ['call', result.credit.channelId],
        ['purchase', result.purchase.id],
        ['status', result.purchase.status],
        ['callsCounted', `${result.purchase.callsCounted}/${result.purchase.callsRequired}`],
        ['creditedBy', result.credit.creditedBy],
        ['reason', result.credit.reason],
      ]),
    );
  },
};
