// sanscode number set-announcement | set-hold-sound
import { toE164 } from '../../core/phone.js';
import { setNumberSettings } from '../../db/ledger/index.js';
import { emit, parseCommand, record, UsageError, type CliContext, type Command } from './shared.js';

const HELP = `
usage: sanscode number set-announcement NUMBER SOUND [--json]
       sanscode number set-announcement NUMBER --none [--json]
       sanscode number set-hold-sound NUMBER SOUND [--json]
       sanscode number set-hold-sound NUMBER --none [--json]

set-announcement: the price announcement of a premium number, a sound played free of charge, as
early media before a call on that number is answered. --none: the carrier plays it.
set-hold-sound: what a caller paying a per-second purchase hears between the time-remaining
announcements (looped, cut when the next one is due). --none: silence.
SOUND is a sound name without extension, under Asterisk's sounds folder, e.g. sanscode/price-2-99.
`;

/** As Asterisk's sound: scheme takes it (the same rule as PUT /v1/admin/numbers/{number}). */
const SOUND = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

export const numberCommand: Command = {
  name: 'number',
  summary: "set-announcement, set-hold-sound: how a premium number sounds to callers",
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'set-announcement') return setSound('priceAnnouncement', rest, ctx);
    if (sub === 'set-hold-sound') return setSound('holdSound', rest, ctx);
    if (sub === undefined || sub === '--help' || sub === '-h') return ctx.out(HELP.trim());
    throw new UsageError(`unknown subcommand "${sub}" (set-announcement, set-hold-sound)`);
  },
};

async function setSound(setting: 'priceAnnouncement' | 'holdSound', argv: string[], ctx: CliContext) {
  const args = parseCommand(argv, ctx, HELP, { none: { type: 'boolean' } }, { min: 1, max: 2, names: 'NUMBER' });
  if (!args) return;
  const [raw, sound] = args.positionals as [string, string | undefined];
  const number = toE164(raw, ctx.region);
  if (!number) throw new UsageError(`"${raw}" is not a valid phone number`);
  if (Boolean(args.values.none) === (sound !== undefined)) throw new UsageError('give either SOUND or --none');
  if (sound !== undefined && (!SOUND.test(sound) || sound.length > 100)) {
    throw new UsageError(`"${sound}" is not a sound name such as sanscode/price-2-99 (no extension)`);
  }
  const settings = await setNumberSettings(await ctx.db(), { number, [setting]: sound ?? null });
  emit(ctx, args.values.json, settings, () =>
    record([
      ['number', settings.number],
      ['priceAnnouncement', settings.priceAnnouncement ?? '(none: the carrier plays it)'],
      ['holdSound', settings.holdSound ?? '(none: silence)'],
    ]),
  );
}
