// Configuration comes from the environment only, parsed once and validated so that a typo
// fails at start-up with a clear message instead of misbehaving during a call.
import { z } from 'zod';
import { defaultPurchaseLimits, defaultRetentionDays, languages } from '../domain/index.js';

const schema = z.object({
  // postgres://user@host:port/db, or several hosts for a replicated PostgreSQL, tried in order:
  // postgres://h1:5432,h2:5432/db?target_session_attrs=primary (a promoted standby is found
  // after a failover). WHATWG URL parsing refuses the comma-separated hosts, hence the pattern.
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^/\s]*\/[^\s]*$/, 'DATABASE_URL must be postgres://[user[:password]@]host[:port][,host[:port]...]/database[?options]')
    .optional(),
  // Folder of the embedded PGlite database, used only when DATABASE_URL is unset.
  DATA_DIR: z.string().default('./data/pglite'),
  ADMIN_TOKEN: z.string().min(16, 'ADMIN_TOKEN must be at least 16 characters').optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  ARI_URL: z.string().url().default('http://127.0.0.1:8088'),
  ARI_USERNAME: z.string().default('sanscode'),
  ARI_PASSWORD: z.string().default('sanscode'),
  ARI_APP: z.string().regex(/^[A-Za-z0-9_-]+$/).default('sanscode'),
  // Which Asterisk node this IVR worker serves: workers of one node elect one active worker
  // among them (ivr/leadership.ts), the others stand by. Default: ARI_URL's host and port.
  IVR_NODE: z.string().regex(/^[A-Za-z0-9_.:-]+$/).optional(),
  DEFAULT_REGION: z.string().length(2).toUpperCase().default('FR'),
  // Language of prompts when the dialed number belongs to no offer.
  DEFAULT_LANGUAGE: z.enum(languages).default('fr'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // A call still marked in progress after this long is ignored when admitting new ones (it no
  // longer blocks a call that could complete the purchase); the record itself is left as is.
  MAX_CALL_SECONDS: z.coerce.number().int().positive().default(3600),
  // Serve the demo merchant site under /demo (npm run stack sets it; never in production).
  DEMO: z.stringbool().default(false),
  // Webhooks to loopback/private addresses: refused unless allowed (development only).
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z.stringbool().default(false),
  // Behind a reverse proxy: which proxies' X-Forwarded-For names the client (Express
  // 'trust proxy'): a hop count, or addresses/subnets/loopback/uniquelocal separated by commas.
  // "true" trusts any sender, who can then pick its own address: only when the proxy overwrites
  // the header. Default false: the peer is the client.
  TRUST_PROXY: z
    .string()
    .trim()
    .min(1)
    .default('false')
    .transform((v): boolean | number | string => (v === 'false' ? false : v === 'true' ? true : /^\d+$/.test(v) ? Number(v) : v)),
  // Concurrent live streams (SSE) of one purchase (429 past it) and of one API process (503).
  MAX_STREAMS_PER_PURCHASE: z.coerce.number().int().min(1).default(5),
  MAX_STREAMS_PER_PROCESS: z.coerce.number().int().min(1).default(1000),
  // The IVR role's own /healthz and /readyz (it has no API port), on HOST.
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  // Prometheus /metrics on its own port, never the API's. Unset: 9464 for api/all, 9465 for
  // ivr (so both roles run side by side on one host); "off" serves none.
  METRICS_PORT: z
    .string()
    .trim()
    .regex(/^(off|\d+)$/, 'a port number or "off"')
    .transform((v) => (v === 'off' ? null : Number(v)))
    .pipe(z.number().int().min(0).max(65535).nullable())
    .optional(),
  // Loopback by default: the metrics reveal traffic and offer ids; expose them on purpose.
  METRICS_HOST: z.string().default('127.0.0.1'),
  // Anti-squatting (issue 13): purchases created per phone number across all merchants, and per
  // buyer address (clientIp) across numbers, in any hour; past it, 429 + Retry-After.
  PURCHASES_PER_NUMBER_PER_HOUR: z.coerce.number().int().min(1).default(defaultPurchaseLimits.perNumber),
  PURCHASES_PER_CLIENT_IP_PER_HOUR: z.coerce.number().int().min(1).default(defaultPurchaseLimits.perClientIp),
  // Phone numbers and buyer addresses are personal data: records older than this may be
  // anonymised (DELETE /v1/admin/callers/{number}); the money facts stay.
  RETENTION_DAYS: z.coerce.number().int().min(1).default(defaultRetentionDays),
});

const withDefaults = schema.transform((c) => ({ ...c, IVR_NODE: c.IVR_NODE ?? new URL(c.ARI_URL).host }));

export type Config = z.infer<typeof withDefaults>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = withDefaults.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
