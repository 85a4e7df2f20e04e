// sanscode webhook-deliveries
import { z } from 'zod';
import { listDeliveries, merchantSummaries } from '../../db/ledger/index.js';
import { emit, parseCommand, Refusal, table, validate, type Command } from './shared.js';

const HELP = `
usage: sanscode webhook-deliveries --merchant ID [--purchase ID] [--limit N] [--json]

A merchant's webhook deliveries, newest first (default 50): status (pending, delivered,
failed), attempts, last HTTP status or error, next attempt.
`;

const options = z.object({
  merchant: z.uuid({ error: 'required: a merchant id (UUID)' }),
  purchase: z.uuid({ error: 'must be a purchase id (UUID)' }).optional(),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000'))
    .default(50),
});

export const webhookDeliveriesCommand: Command = {
  name: 'webhook-deliveries',
  summary: "a merchant's webhook deliveries and their state",
  async run(argv, ctx) {
    const args = parseCommand(argv, ctx, HELP, { merchant: { type: 'string' }, purchase: { type: 'string' }, limit: { type: 'string' } }, { min: 0, max: 0, names: '' });
    if (!args) return;
    const { json, help: _help, ...values } = args.values;
    const q = validate(options, values);
    const db = await ctx.db();
    const [merchant] = await merchantSummaries(db, q.merchant);
    if (!merchant) throw new Refusal(`no merchant with id ${q.merchant}`);
    const deliveries = await listDeliveries(db, q.merchant, { limit: q.limit, purchaseId: q.purchase });
    emit(ctx, json, { merchantId: merchant.id, webhookUrl: merchant.webhookUrl, deliveries }, () =>
      [
        `webhook: ${merchant.webhookUrl ?? '(none)'}`,
        '',
        table(
          ['created', 'event', 'type', 'purchase', 'status', 'attempts', 'last', 'next attempt'],
          deliveries.map((d) => [d.createdAt, d.eventId, d.type, d.purchaseId, d.status, d.attempts, d.lastStatusCode ?? d.lastError, d.nextAttemptAt]),
        ),
      ].join('\n'),
    );
  },
};
