// sanscode offer create|list|show
import { z } from 'zod';
import { toE164 } from '../../core/phone.js';
import { createOffer, getOffer, merchantSummaries, listOffers, poolStatus, type OfferView } from '../../db/ledger/index.js';
import { languages, offerModes } from '../../domain/index.js';
import { emit, parseCommand, record, Refusal, table, UsageError, validate, type Cell, type CliContext, type Command } from './shared.js';

const HELP = `
usage: sanscode offer create --merchant ID --name NAME --number NUMBER [--number NUMBER ...]
                             --calls N --min-seconds S [--language fr|en] [--price-line TEXT]
                             [--mode caller_id] --ttl S
                           | --mode dynamic_number --hold S [--max-hold S] [--quarantine S]
       sanscode offer list [--merchant ID] [--json]
       sanscode offer show OFFER_ID [--json]

create   --calls         calls the buyer makes to pay (1-20)
         --min-seconds   how long each call must last to count (0-600)
         --number        premium number(s), national or E.164 (e.g. 0899123456)
         --language      prompts and widget (default DEFAULT_LANGUAGE)
         --price-line    the price the widget shows, e.g. "2,99 € / appel + prix d'un appel"
         caller_id:      --ttl          how long a purchase stays pending (10-604800 s)
         dynamic_number: --hold         how long a number is lent to a visitor (10-86400 s)
                         --max-hold     longest hold reachable by extending (default --hold)
                         --quarantine   rest of a number after a lending (0-86400 s, default 300)
list     Offers, all merchants' or one's.
show     One offer; with a dynamic_number offer, the state of its pool.
`;

const wholeNumber = (min: number, max: number) =>
  z
    .string({ error: 'required' })
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.int().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`));

const cliModes = offerModes.filter((m) => m !== 'access_code') as ['caller_id', 'dynamic_number'];

const createOptions = z
  .object({
    merchant: z.uuid({ error: 'must be a merchant id (UUID)' }),
    name: z.string({ error: 'required' }).trim().min(1, 'must not be empty').max(200),
    // Access-code offers are created through the API (POST /v1/admin/offers) for now.
    mode: z.enum(cliModes, { error: `must be one of ${cliModes.join(', ')}` }).default('caller_id'),
    number: z.array(z.string().trim().min(1).max(32), { error: 'required (repeat it for several numbers)' }).min(1).max(1000),
    calls: wholeNumber(1, 20),
    'min-seconds': wholeNumber(0, 600),
    ttl: wholeNumber(10, 604800).optional(),
    hold: wholeNumber(10, 86400).optional(),
    'max-hold': wholeNumber(10, 86400).optional(),
    quarantine: wholeNumber(0, 86400).optional(),
    language: z.enum(languages, { error: `must be one of ${languages.join(', ')}` }).optional(),
    'price-line': z.string().trim().min(1, 'must not be empty').max(200).optional(),
  })
  .superRefine((o, ctx) => {
    const need = (f: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [f], message: `required with --mode ${o.mode}` });
    const refuse = (f: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [f], message: `not used with --mode ${o.mode}` });
    if (o.mode === 'caller_id') {
      if (o.ttl === undefined) need('ttl');
      for (const f of ['hold', 'max-hold', 'quarantine'] as const) if (o[f] !== undefined) refuse(f);
    } else {
      if (o.hold === undefined) need('hold');
      if (o.ttl !== undefined) refuse('ttl');
      if (o['max-hold'] !== undefined && o.hold !== undefined && o['max-hold'] < o.hold) {
        ctx.addIssue({ code: 'custom', path: ['max-hold'], message: 'must be at least --hold' });
      }
    }
  });

export const offerCommand: Command = {
  name: 'offer',
  summary: 'create an offer on premium numbers | list offers | show one (and its pool)',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'create') return create(rest, ctx);
    if (sub === 'list') return list(rest, ctx);
    if (sub === 'show') return show(rest, ctx);
    if (sub === undefined || sub === '--help' || sub === '-h') return ctx.out(HELP.trim());
    throw new UsageError(`unknown subcommand "${sub}" (create, list, show)`);
  },
};

async function create(argv: string[], ctx: CliContext) {
  const args = parseCommand(
    argv,
    ctx,
    HELP,
    {
      merchant: { type: 'string' },
      name: { type: 'string' },
      mode: { type: 'string' },
      number: { type: 'string', multiple: true },
      calls: { type: 'string' },
      'min-seconds': { type: 'string' },
      ttl: { type: 'string' },
      hold: { type: 'string' },
      'max-hold': { type: 'string' },
      quarantine: { type: 'string' },
      language: { type: 'string' },
      'price-line': { type: 'string' },
    },
    { min: 0, max: 0, names: '' },
  );
  if (!args) return;
  const { json, help: _help, ...values } = args.values;
  const o = validate(createOptions, values);
  const numbers = o.number.map((raw) => ({ raw, e164: toE164(raw, ctx.region) }));
  const unusable = numbers.filter((n) => !n.e164).map((n) => n.raw);
  if (unusable.length > 0) throw new UsageError(`--number: not a valid phone number: ${unusable.join(', ')}`);
  const offer = await createOffer(await ctx.db(), {
    merchantId: o.merchant,
    name: o.name,
    mode: o.mode,
    callsRequired: o.calls,
    minCallSeconds: o['min-seconds'],
    language: o.language ?? ctx.defaultLanguage,
    priceLine: o['price-line'] ?? null,
    numbers: [...new Set(numbers.map((n) => n.e164!))],
    ...(o.mode === 'caller_id'
      ? { purchaseTtlSeconds: o.ttl! }
      : { holdSeconds: o.hold!, maxHoldSeconds: o['max-hold'] ?? o.hold!, quarantineSeconds: o.quarantine ?? 300 }),
  });
  emit(ctx, json, offer, () => record(offerFields(offer)));
}

async function list(argv: string[], ctx: CliContext) {
  const args = parseCommand(argv, ctx, HELP, { merchant: { type: 'string' } }, { min: 0, max: 0, names: '' });
  if (!args) return;
  const { merchant } = validate(z.object({ merchant: z.uuid({ error: 'must be a merchant id (UUID)' }).optional() }), { merchant: args.values.merchant });
  const db = await ctx.db();
  if (merchant && (await merchantSummaries(db, merchant)).length === 0) throw new Refusal(`no merchant with id ${merchant}`);
  const offers = await listOffers(db, merchant);
  emit(ctx, args.values.json, { offers }, () =>
    table(
      ['id', 'merchant', 'name', 'mode', 'calls', 'min s', 'lifetime s', 'numbers'],
      offers.map((o) => [o.id, o.merchantName, o.name, o.mode, o.callsRequired, o.minCallSeconds, o.purchaseTtlSeconds ?? o.holdSeconds, o.numbers.join(' ')]),
    ),
  );
}

async function show(argv: string[], ctx: CliContext) {
  const args = parseCommand(argv, ctx, HELP, {}, { min: 1, max: 1, names: 'OFFER_ID' });
  if (!args) return;
  const id = args.positionals[0]!;
  if (!z.uuid().safeParse(id).success) throw new UsageError(`"${id}" is not an offer id (UUID)`);
  const db = await ctx.db();
  const offer = await getOffer(db, id);
  if (!offer) throw new Refusal(`no offer with id ${id}`);
  const pool = offer.mode === 'dynamic_number' ? await poolStatus(db, offer.id) : null;
  emit(ctx, args.values.json, { ...offer, ...(pool ? { pool } : {}) }, () =>
    [record(offerFields(offer)), ...(pool ? ['', table(['number', 'state', 'until', 'purchase'], pool.map((n) => [n.number, n.state, n.until, n.purchaseId]))] : [])].join('\n'),
  );
}

function offerFields(o: OfferView): [string, Cell][] {
  const lifetimes: [string, Cell][] =
    o.mode === 'caller_id'
      ? [['purchaseTtlSeconds', o.purchaseTtlSeconds]]
      : [['holdSeconds', o.holdSeconds], ['maxHoldSeconds', o.maxHoldSeconds], ['quarantineSeconds', o.quarantineSeconds]];
  return [
    ['id', o.id],
    ['merchantId', o.merchantId],
    ['name', o.name],
    ['mode', o.mode],
    ['callsRequired', o.callsRequired],
    ['minCallSeconds', o.minCallSeconds],
    ...lifetimes,
    ['numbers', o.numbers.join(' ')],
    ['language', o.language],
    ['priceLine', o.priceLine],
    ['createdAt', o.createdAt],
  ];
}
