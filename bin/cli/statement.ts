// The carrier's billing statement: a CSV of billed calls, parsed into domain BilledCalls.
//
// Accepted: a header line, then one billed call per line; delimiter "," or ";" (whichever the
// header uses); fields may be "quoted" (RFC 4180, on one line); other columns are ignored;
// blank lines are skipped. Columns, by header name (case-insensitive):
//   start           when the call started or was answered: 2026-11-01T10:00:00Z,
//                   2026-11-01 10:00:00 (UTC) or with an offset, 2026-11-01 10:00:00+01:00
//   caller          calling number, national or international; empty or "anonymous": withheld
//   called          the premium number called
//   billed_seconds  billed duration in seconds (decimals with "." or ",")
import { callerToE164, toE164 } from '../../core/phone.js';
import type { BilledCall } from '../../domain/reconciliation.js';
import { parseTimestamp, UsageError } from './shared.js';

export const STATEMENT_COLUMNS = ['start', 'caller', 'called', 'billed_seconds'] as const;

/** Splits one CSV line; quotes may wrap a field and "" is a quote inside one. */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === delimiter) {
      fields.push(field.trim());
      field = '';
    } else field += ch;
  }
  fields.push(field.trim());
  return fields;
}

/** Parses a statement; bad input is a UsageError naming the line (up to 3 of them). */
export function parseStatement(text: string, region: string): BilledCall[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerAt = lines.findIndex((l) => l.trim() !== '');
  if (headerAt < 0) throw new UsageError(`the statement is empty: it needs a header line (${STATEMENT_COLUMNS.join(',')})`);
  const header = lines[headerAt]!;
  const delimiter = (header.match(/;/g)?.length ?? 0) > (header.match(/,/g)?.length ?? 0) ? ';' : ',';
  const names = splitCsvLine(header, delimiter).map((n) => n.toLowerCase());
  const index = Object.fromEntries(STATEMENT_COLUMNS.map((c) => [c, names.indexOf(c)])) as Record<(typeof STATEMENT_COLUMNS)[number], number>;
  const missing = STATEMENT_COLUMNS.filter((c) => index[c] < 0);
  if (missing.length > 0) throw new UsageError(`line ${headerAt + 1}: the header lacks column(s) ${missing.join(', ')} (needs ${STATEMENT_COLUMNS.join(', ')})`);

  const billed: BilledCall[] = [];
  const errors: string[] = [];
  for (let i = headerAt + 1; i < lines.length && errors.length < 3; i++) {
    if (lines[i]!.trim() === '') continue;
    const line = i + 1;
    const fields = splitCsvLine(lines[i]!, delimiter);
    const field = (c: (typeof STATEMENT_COLUMNS)[number]) => fields[index[c]];
    const start = field('start');
    const caller = field('caller');
    const called = field('called');
    const seconds = field('billed_seconds');
    if (start === undefined || caller === undefined || called === undefined || seconds === undefined) {
      errors.push(`line ${line}: ${fields.length} field(s), fewer than the header's`);
      continue;
    }
    const at = parseTimestamp(start);
    const callerE164 = callerToE164(caller, region);
    const calledE164 = toE164(called, region);
    const billedSeconds = /^\d+([.,]\d+)?$/.test(seconds) ? Number(seconds.replace(',', '.')) : null;
    if (!at) errors.push(`line ${line}: start "${start}" is not a time such as 2026-11-01 10:00:00 or 2026-11-01T10:00:00+01:00`);
    else if (callerE164 === null && /\d/.test(caller)) errors.push(`line ${line}: caller "${caller}" is not a valid phone number`);
    else if (!calledE164) errors.push(`line ${line}: called "${called}" is not a valid phone number`);
    else if (billedSeconds === null) errors.push(`line ${line}: billed_seconds "${seconds}" is not a number of seconds`);
    else billed.push({ line, start: at, caller: callerE164, called: calledE164, billedSeconds });
  }
  if (errors.length > 0) throw new UsageError(errors.join('; '));
  return billed;
}
