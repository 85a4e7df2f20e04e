// What every operator command shares: argument parsing (node:util parseArgs), validation of
// the parsed values with zod, and plain-text tables, CSV and JSON output.
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import type { Database } from '../../db/client.js';
import type { Language } from '../../domain/index.js';

/** Bad input: the CLI prints the message on one line, points to --help, and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Well-formed input naming nothing usable (an unknown id...): one line, exit code 2. */
export class Refusal extends Error {
  override name = 'Refusal';
}

export interface CliContext {
  /** Region of national-format phone numbers (DEFAULT_REGION). */
  region: string;
  defaultLanguage: Language;
  /** The operator, as the audit trail records them: the OS user running the CLI. */
  user: string;
  /** The database, opened (and migrated) on first use, so that --help never needs it. */
  db(): Promise<Database>;
  /** Writes a line (or lines) to stdout. */
  out(text: string): void;
}

export interface Command {
  name: string;
  /** One line for `sanscode help`. */
  summary: string;
  run(argv: string[], ctx: CliContext): Promise<void>;
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };
export type Values = Record<string, string | boolean | string[] | undefined>;

const commonOptions = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} satisfies Record<string, OptionSpec>;

/**
 * Parses a command's arguments (strict: an unknown option is bad input). Returns null after
 * printing `help` when --help was given. Every command takes --help and --json.
 */
export function parseCommand(
  argv: string[],
  ctx: CliContext,
  help: string,
  options: Record<string, OptionSpec>,
  positionals: { min: number; max: number; names: string },
): { values: Values & { json?: boolean }; positionals: string[] } | null {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    // parseArgs explains itself, e.g. "Unknown option '--nme'. To specify a positional ...".
    throw new UsageError((err as Error).message.split('. ')[0]!.replace(/\.$/, ''));
  }
  if (parsed.values.help) {
    ctx.out(help.trim());
    return null;
  }
  const n = parsed.positionals.length;
  if (n < positionals.min) throw new UsageError(`missing ${positionals.names}`);
  if (n > positionals.max) throw new UsageError(`unexpected argument "${parsed.positionals[positionals.max]}"`);
  return parsed as { values: Values & { json?: boolean }; positionals: string[] };
}

/** Validates parsed option values; the first problems are reported as `--option: message`. */
export function validate<S extends z.ZodType>(schema: S, values: unknown): z.infer<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 3).map((i) => {
    const flag = i.path.length > 0 ? `--${String(i.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'arguments';
    return `${flag}: ${i.message}`;
  });
  throw new UsageError(problems.join('; '));
}

/**
 * `2026-11-01` (midnight UTC), `2026-11-01T10:00:00Z`, `2026-11-01 10:00:00` (UTC),
 * `2026-11-01 10:00:00+01:00`; fractions of seconds allowed. Null when it is none of these.
 */
export function parseTimestamp(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  if (!m[4] && m[8]) return null; // a zone without a time of day
  const utc = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s, Math.round(Number(frac || '0') * 1000));
  const check = new Date(utc);
  // Rejects 2026-02-30, 25:00 and the like rather than rolling them over.
  if (check.getUTCFullYear() !== +y! || check.getUTCMonth() !== +mo! - 1 || check.getUTCDate() !== +d! || check.getUTCHours() !== +h || check.getUTCMinutes() !== +mi || +s > 59) return null;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMinutes = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  return new Date(utc - offsetMinutes * 60_000);
}

export type Cell = string | number | boolean | Date | null | undefined;

function cellText(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString().replace('.000Z', 'Z');
  return String(value);
}

/** A plain-text table; numbers are right-aligned. */
export function table(headers: string[], rows: Cell[][]): string {
  if (rows.length === 0) return '(none)';
  const text = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const numeric = headers.map((_, i) => rows.some((r) => typeof r[i] === 'number') && rows.every((r) => typeof r[i] === 'number' || r[i] === null || r[i] === undefined));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

/** Label: value lines, for one record. */
export function record(fields: [string, Cell][]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${(k + ':').padEnd(width + 2)}${cellText(v)}`).join('\n');
}

/** One CSV line (RFC 4180 quoting). */
export function csvLine(values: Cell[]): string {
  return values
    .map((v) => {
      const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v);
      return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    })
    .join(',');
}

/** Prints `data` as JSON with --json, else the text `render` makes of it. */
export function emit(ctx: CliContext, json: boolean | undefined, data: unknown, render: () => string): void {
  ctx.out(json ? JSON.stringify(data, null, 2) : render());
}
