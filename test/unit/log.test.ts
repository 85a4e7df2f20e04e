// What the logger lets through: secrets never, SQL parameters never, buyers' numbers masked
// unless the level is debug.
import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createLogger, logSerializers, maskPhone, redactUrl } from '../../core/log.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const log = createLogger(level, { write: (line: string) => void lines.push(line) });
  return { log, text: () => lines.join(''), last: () => JSON.parse(lines.at(-1)!) };
}

/** What drizzle 0.45 throws for a failed postgres.js query, fields as postgres.js sets them. */
function failedQuery(): DrizzleQueryError {
  const pg = Object.assign(new Error('new row for relation "purchases" violates check constraint "x"'), {
    name: 'PostgresError',
    code: '23514',
    severity: 'ERROR',
    table_name: 'purchases',
    constraint_name: 'x',
    detail: 'Failing row contains (+33612345678, sk_live_key).',
  });
  Object.defineProperties(pg, {
    query: { value: 'insert into purchases values ($1, $2)', enumerable: true },
    parameters: { value: ['+33612345678', 'whsec_abcdef'], enumerable: true },
    args: { value: ['+33612345678', 'whsec_abcdef'], enumerable: true },
  });
  return new DrizzleQueryError('insert into purchases values ($1, $2)', ['+33612345678', 'whsec_abcdef'], pg);
}

describe('phone numbers', () => {
  it('masks the last two digits', () => {
    expect(maskPhone('+33612345678')).toBe('+336123456**');
    expect(maskPhone('06 12 34 56 78')).toBe('06 12 34 56 **');
    expect(maskPhone(null)).toBe(null);
  });

  it('masks buyer fields at every depth our lines use, and keeps the dialed number', () => {
    const { log, last } = capture();
    log.info({ caller: '+33612345678', dialed: '+33899123456', purchase: { callerNumber: '+33687654321' }, data: { purchase: { callerNumber: '+33611223344' } } }, 'call');
    expect(last()).toMatchObject({ caller: '+336123456**', dialed: '+33899123456', purchase: { callerNumber: '+336876543**' }, data: { purchase: { callerNumber: '+336112233**' } } });
    log.child({ callerRaw: '0612345678' }).info('bound');
    expect(last().callerRaw).toBe('06123456**');
  });

  it('shows them whole at debug, and still hides secrets', () => {
    const { log, last } = capture('debug');
    log.debug({ caller: '+33612345678', apiKey: 'sk_abc', clientToken: 'ct_abc' }, 'call');
    expect(last()).toMatchObject({ caller: '+33612345678', apiKey: '[redacted]', clientToken: '[redacted]' });
  });
});

describe('errors', () => {
  it('logs a failed query with its SQL and code, without its parameters or the quoted row', () => {
    const { log, last, text } = capture();
    log.error({ err: failedQuery() }, 'failed');
    const err = last().err;
    expect(err).toMatchObject({ type: 'DrizzleQueryError', code: '23514', table_name: 'purchases', constraint_name: 'x' });
    expect(err.message).toBe('Failed query: insert into purchases values ($1, $2): new row for relation "purchases" violates check constraint "x"');
    expect(err.stack).toMatch(/^DrizzleQueryError: Failed query: insert into purchases values \(\$1, \$2\)\n {4}at /);
    expect(err.stack).toContain('\ncaused by: PostgresError: new row');
    expect(Object.keys(err).sort()).toEqual(['code', 'constraint_name', 'message', 'severity', 'stack', 'table_name', 'type']);
    for (const leak of ['+33612345678', 'whsec_', 'sk_', 'Failing row', 'params']) expect(text()).not.toContain(leak);
  });

  it('gives pino-http serializers the same treatment (they receive pino standard objects)', () => {
    const serialize = logSerializers(false);
    const standard = Object.assign(Object.create({ raw: null }), { type: 'DrizzleQueryError', message: 'x', params: ['sk_1'] });
    Object.defineProperty(standard, 'raw', { value: failedQuery() });
    expect(JSON.stringify(serialize.err(standard))).not.toMatch(/sk_|whsec_|\+33612345678/);
  });

  it('scrubs credentials and numbers that an error message quotes', () => {
    const { log, last } = capture();
    log.error({ err: new Error('invalid input syntax for type uuid: "ct_eyJwIjoi.abc" from +33612345678') }, 'x');
    expect(last().err.message).toBe('invalid input syntax for type uuid: "[redacted]" from +336123456**');
    log.warn({ err: 'connect failed for key sk_abc' }, 'x');
    expect(last().err).toBe('connect failed for key [redacted]');
  });
});

describe('request URLs', () => {
  it('replaces secret query values, whatever their name or shape', () => {
    expect(redactUrl('/v1/client/events?token=ct_eyJwIjoi.c2ln')).toBe('/v1/client/events?token=[redacted]');
    expect(redactUrl('/v1/purchases?TOKEN=abc&limit=5')).toBe('/v1/purchases?TOKEN=[redacted]&limit=5');
    expect(redactUrl('/v1/x?k%65y=abc&apiKey=1&other=sk_live')).toBe('/v1/x?k%65y=[redacted]&apiKey=[redacted]&other=[redacted]');
    expect(redactUrl('/v1/purchases/sk_pasted_in_path')).toBe('/v1/purchases/[redacted]');
    expect(redactUrl('/v1/admin/calls?outcome=lost&limit=20')).toBe('/v1/admin/calls?outcome=lost&limit=20');
  });

  it('replaces an access code in a path, whole (a masked phone would leave 6 of its 8 digits)', () => {
    expect(redactUrl('/v1/codes/40718263')).toBe('/v1/codes/[redacted]');
    expect(redactUrl('/v1/codes/40718263?x=1')).toBe('/v1/codes/[redacted]?x=1');
    expect(redactUrl('/v1/codes/redeem')).toBe('/v1/codes/redeem');
    expect(redactUrl('/v1/admin/codes?offerId=abc')).toBe('/v1/admin/codes?offerId=abc');
  });

  it('masks a buyer number given in the query unless numbers are shown', () => {
    expect(redactUrl('/v1/x?callerNumber=%2B33612345678')).toBe('/v1/x?callerNumber=%2B336123456**');
    expect(redactUrl('/v1/x?callerNumber=%2B33612345678', true)).toBe('/v1/x?callerNumber=%2B33612345678');
  });
});
