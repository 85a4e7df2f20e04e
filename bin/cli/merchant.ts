// sanscode merchant create|list
import { z } from 'zod';
import { createMerchant, merchantSummaries } from '../../db/ledger/index.js';
import { emit, parseCommand, record, table, UsageError, validate, type CliContext, type Command } from './shared.js';

const HELP = `
usage: sanscode merchant create --name NAME [--json]
       sanscode merchant list [--json]

create  Creates a merchant and prints its API key, shown this once only (only a hash is kept):
        hand it to the merchant's backend.
list    Merchants with their number of offers and webhook URL.
`;

export const merchantCommand: Command = {
  name: 'merchant',
  summary: 'create a merchant (prints its API key once) | list merchants',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'create') return create(rest, ctx);
    if (sub === 'list') return list(rest, ctx);
    if (sub === undefined || sub === '--help' || sub === '-h') return ctx.out(HELP.trim());
    throw new UsageError(`unknown subcommand "${sub}" (create, list)`);
  },
};

async function create(argv: string[], ctx: CliContext) {
  const args = parseCommand(argv, ctx, HELP, { name: { type: 'string' } }, { min: 0, max: 0, names: '' });
  if (!args) return;
  const { name } = validate(z.object({ name: z.string({ error: 'required' }).trim().min(1, 'must not be empty').max(200) }), args.values);
  const merchant = await createMerchant(await ctx.db(), name);
  emit(ctx, args.values.json, merchant, () =>
    [record([['id', merchant.id], ['name', merchant.name], ['apiKey', merchant.apiKey]]), '', 'The API key is shown only now: give it to the merchant.'].join('\n'),
  );
}

async function list(argv: string[], ctx: CliContext) {
  const args = parseCommand(argv, ctx, HELP, {}, { min: 0, max: 0, names: '' });
  if (!args) return;
  const merchants = await merchantSummaries(await ctx.db());
  emit(ctx, args.values.json, { merchants }, () =>
    table(['id', 'name', 'offers', 'webhook', 'created'], merchants.map((m) => [m.id, m.name, m.offers, m.webhookUrl, m.createdAt])),
  );
}
