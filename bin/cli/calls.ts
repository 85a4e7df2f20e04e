// sanscode calls
import { z } from 'zod';
import { toE164 } from '../../core/phone.js';
import { listCalls } from '../../db/ledger/index.js';
import { callOutcomes } from '../../domain/index.js';
import { emit, parseCommand, table, UsageError, validate, type Command } from './shared.js';

const HELP = `
usage: sanscode calls [--outcome OUTCOME] [--dialed NUMBER] [--purchase ID] [--limit N] [--json]

The call record, newest first (default 50 calls, at most 1000).
  --outcome   one of: ${callOutcomes.join(', ')}
              (lost: the IVR lost the channel; an answered lost call may be credited with
              sanscode credit CHANNEL_ID --reason ...)
  --dialed    the premium number called
  --purchase  the calls of one purchase
`;

const options = z.object({
  outcome: z.enum(callOutcomes, { error: `must be one of ${callOutcomes.join(', ')}` }).optional(),
  dialed: z.string().max(32).optional(),
  purchase: z.uuid({ error: 'must be a purchase id (UUID)' }).optional(),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000'))
    .default(50),
});

export const callsCommand: Command = {
  name: 'calls',
  summary: 'the call record, with filters (e.g. --outcome lost)',
  async run(argv, ctx) {
    const args = parseCommand(
      argv,
      ctx,
      HELP,
      { outcome: { type: 'string' }, dialed: { type: 'string' }, purchase: { type: 'string' }, limit: { type: 'string' } },
      { min: 0, max: 0, names: '' },
    );
    if (!args) return;
    const { json, help: _help, ...values } = args.values;
    const q = validate(options, values);
    const dialed = q.dialed === undefined ? undefined : toE164(q.dialed, ctx.region);
    if (dialed === null) throw new UsageError(`--dialed: "${q.dialed}" is not a valid phone number`);
    const calls = await listCalls(await ctx.db(), { outcome: q.outcome, dialed, purchaseId: q.purchase, limit: q.limit });
    emit(ctx, json, { calls }, () =>
      table(
        ['started', 'channel', 'dialed', 'caller', 'outcome', 'answered s', 'purchase'],
        calls.map((c) => [c.startedAt, c.channelId, c.dialedNumber ?? c.dialedRaw, c.callerNumber ?? c.callerRaw, c.outcome, c.answeredSeconds, c.purchaseId]),
      ),
    );
  },
};
