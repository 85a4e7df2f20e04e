// One pino logger for the whole process. What it must never write:
// - secrets: API keys, client tokens, webhook secrets, the admin token, the ARI password, key
//   hashes. Fields that hold them are redacted by path; a request is logged with the secret
//   values of its query string replaced (client tokens travel in `?token=`, because
//   EventSource cannot send headers); an error is logged without the parameters of a failed
//   query (drizzle puts them in the message, postgres.js in fields) and without the row
//   PostgreSQL quotes in `detail`;
// - a buyer's full phone number: personal data, masked (+336123456**) unless the level is
//   debug or finer. The premium number dialed is the seller's, not personal, and stays whole.
import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';

const REDACTED = '[redacted]';

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'apiKey',
  '*.apiKey',
  'apiKeyHash',
  '*.apiKeyHash',
  'password',
  '*.password',
  'ARI_PASSWORD',
  'ADMIN_TOKEN',
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  'clientToken',
  '*.clientToken',
  'token',
  '*.token',
  'req.query.token',
  // Access codes: only the IVR (to speak it) and the operator's API answer ever hold one.
  'accessCode',
  '*.accessCode',
  'issuedCode',
  '*.issuedCode',
  'req.params.code',
];

/** Fields that hold a buyer's number, at any of the depths our log lines use. */
const PHONE_FIELDS = ['caller', 'callerNumber', 'callerRaw'];
const phonePaths = PHONE_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** Query parameters whose value is a credential, whatever it looks like (compared lower-case). */
const SECRET_PARAMS = new Set(['token', 'key', 'apikey', 'api_key', 'access_token', 'client_token', 'secret', 'password']);
/** Our own credentials have recognisable prefixes; a SHA-256 in hex is how API keys are stored. */
const SECRET_TEXT = /\b(?:sk|ct|whsec)_[A-Za-z0-9_.~%-]*|\b[0-9a-f]{64}\b/gi;
/** A run of 8 to 15 digits, with or without "+": a phone number in some error text. */
const PHONE_TEXT = /(?<![\w.])\+?\d{8,15}(?![\w.])/g;

/** `+33612345678` → `+336123456**`: the log never holds the whole number. Idempotent. */
export function maskPhone(value: unknown): unknown {
  if (typeof value !== 'string' || value.endsWith('**')) return value;
  let left = 2;
  const chars = [...value];
  for (let i = chars.length - 1; i >= 0 && left > 0; i--) {
    if (/\d/.test(chars[i]!)) {
      chars[i] = '*';
      left--;
    }
  }
  return chars.join('');
}

/** Removes credentials (and, unless shown, phone numbers) from free text such as an error message. */
export function scrubText(text: string, showNumbers = false): string {
  const scrubbed = text.replace(SECRET_TEXT, REDACTED);
  return showNumbers ? scrubbed : scrubbed.replace(PHONE_TEXT, (n) => maskPhone(n) as string);
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}

/** `/v1/codes/<code>`: an access code in a path is a bearer value, like a token. */
const CODE_IN_PATH = /(\/codes\/)(?!redeem(?:$|\/))[^/]+/g;

/** A request path as it may be logged: secret query values and codes replaced, phone values masked. */
export function redactUrl(url: string, showNumbers = false): string {
  const q = url.indexOf('?');
  const path = scrubText((q < 0 ? url : url.slice(0, q)).replace(CODE_IN_PATH, `$1${REDACTED}`), showNumbers);
  if (q < 0) return path;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return scrubText(pair, showNumbers);
      const name = pair.slice(0, eq);
      if (SECRET_PARAMS.has(decode(name).toLowerCase())) return `${name}=${REDACTED}`;
      if (!showNumbers && PHONE_FIELDS.includes(decode(name))) return `${name}=${encodeURIComponent(maskPhone(decode(pair.slice(eq + 1))) as string)}`;
      return `${name}=${scrubText(pair.slice(eq + 1), showNumbers)}`;
    });
  return `${path}?${query.join('&')}`;
}

function redactQuery(query: unknown, showNumbers: boolean): unknown {
  if (!query || typeof query !== 'object') return query;
  return Object.fromEntries(
    Object.entries(query).map(([name, value]) => {
      if (SECRET_PARAMS.has(name.toLowerCase())) return [name, REDACTED];
      if (!showNumbers && PHONE_FIELDS.includes(name)) return [name, maskPhone(value)];
      return [name, typeof value === 'string' ? scrubText(value, showNumbers) : value];
    }),
  );
}

type SerializedRequest = ReturnType<typeof stdSerializers.req>;

/** Fields of an error (PostgreSQL's or Node's) that say what failed without quoting any data. */
const ERROR_FIELDS = ['code', 'severity', 'schema_name', 'table_name', 'column_name', 'constraint_name', 'routine', 'errno', 'syscall', 'address', 'port', 'status', 'statusCode'];

function isError(value: unknown): value is Error {
  return typeof value === 'object' && value !== null && typeof (value as Error).message === 'string';
}

/**
 * An error's own message without the data it may quote: drizzle's DrizzleQueryError reads
 * "Failed query: <sql>\nparams: <values>" and keeps both in fields; only the SQL is kept.
 */
function ownMessage(err: Error): string {
  const { query, params } = err as Error & { query?: unknown; params?: unknown };
  if (typeof query === 'string' && params !== undefined) return `Failed query: ${query}`;
  return err.message;
}

/** The error's class (DrizzleQueryError keeps the name "Error"), else its name. */
function kind(err: Error): string {
  const cls = err.constructor?.name;
  return cls && cls !== 'Error' ? cls : err.name;
}

/** The stack frames of an error, without the header that repeats its message. */
function frames(err: Error): string {
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const header = err.message ? `${err.name}: ${err.message}` : err.name;
  if (stack.startsWith(header)) return stack.slice(header.length);
  const at = stack.indexOf('\n    at ');
  return at < 0 ? '' : stack.slice(at);
}

export type LogSerializers = {
  /** Takes pino's standard request object (as a `req` field of a log line reaches a serializer). */
  req(req: SerializedRequest): Record<string, unknown>;
  /** Takes an Error, or pino's standard error object (which keeps the Error in `raw`). */
  err(err: unknown): unknown;
};

/** Serializers that keep secrets, query parameters and (unless shown) phone numbers out of logs. */
export function logSerializers(showNumbers: boolean): LogSerializers {
  return {
    req(req) {
      const headers = { ...req.headers };
      if (typeof headers.referer === 'string') headers.referer = redactUrl(headers.referer, showNumbers);
      return {
        id: req.id,
        method: req.method,
        url: typeof req.url === 'string' ? redactUrl(req.url, showNumbers) : req.url,
        query: redactQuery(req.query, showNumbers),
        params: redactQuery(req.params, showNumbers),
        headers,
        remoteAddress: req.remoteAddress,
        remotePort: req.remotePort,
      };
    },
    err(input) {
      const raw = (input as { raw?: unknown } | null)?.raw;
      const err = input instanceof Error ? input : isError(raw) ? raw : input;
      if (typeof err === 'string') return scrubText(err, showNumbers);
      if (!isError(err)) return input;
      // Walk the cause chain as pino does (messages joined by ": ", stacks by "caused by:"),
      // but from each error's own safe message and frames, never its other fields.
      const chain: Error[] = [];
      for (let e: unknown = err; isError(e) && !chain.includes(e) && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
      const out: Record<string, unknown> = {
        type: kind(err),
        message: scrubText(chain.map(ownMessage).join(': '), showNumbers),
        stack: scrubText(chain.map((e) => `${kind(e)}: ${ownMessage(e)}${frames(e)}`).join('\ncaused by: '), showNumbers),
      };
      for (const field of ERROR_FIELDS) {
        const found = chain.find((e) => (e as unknown as Record<string, unknown>)[field] !== undefined);
        if (found) out[field] = (found as unknown as Record<string, unknown>)[field];
      }
      return out;
    },
  };
}

/** Serializers for request logs (api/request-log.ts): the URL redacted, errors without query parameters. */
export function httpLogSerializers(log: Logger): LogSerializers {
  return logSerializers(log.isLevelEnabled('debug'));
}

/**
 * The process logger. Buyers' numbers are shown in full only at `debug` or finer, for
 * troubleshooting one call; secrets never.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const showNumbers = level === 'debug' || level === 'trace';
  const serializers = logSerializers(showNumbers);
  return pino(
    {
      level,
      redact: {
        paths: showNumbers ? redactPaths : [...redactPaths, ...phonePaths],
        censor: (value, path) => (PHONE_FIELDS.includes(path.at(-1)!) ? maskPhone(value) : REDACTED),
      },
      serializers: { req: stdSerializers.wrapRequestSerializer(serializers.req), err: serializers.err },
    },
    destination,
  );
}

export type { Logger };
