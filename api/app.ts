// The HTTP API as an Express 5 app (async handlers' errors reach problemHandler by themselves).
import { isUtf8 } from 'node:buffer';
import { existsSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { Logger } from 'pino';
import { Readiness } from '../core/health.js';
import { databaseReachable } from '../db/ledger/index.js';
import type { Database, DbHandle } from '../db/client.js';
import { ClientTokens } from './client-token.js';
import { PurchaseEventHub, type LiveStats, type StreamOptions } from './live.js';
import { requestLog } from './request-log.js';
import { clientRoutes } from './routes/client.js';
import { originRoutes } from './routes/origins.js';
import { AuthFailureLimiter, VerifiedKeyCache, requireAdmin, requireMerchant } from './auth.js';
import { isCapacityRefusal, problemHandler, rejectMalformedPath, unknownRoute } from './problem.js';
import { adminRoutes } from './routes/admin.js';
import { codeRoutes } from './routes/codes.js';
import { purchaseRoutes, readPurchase } from './routes/purchases.js';
import { webhookRoutes } from './routes/webhooks.js';
import { demoRoutes } from '../demo/routes.js';
import { docsRoutes } from './routes/docs.js';
import { catchRoutes, observeHttpLatency } from './http-metrics.js';
import { defaultPurchaseLimits, defaultRetentionDays, type PurchaseLimits } from '../domain/index.js';

/** The embeddable widget (web/widget.js), from the source tree or next to a build in dist/. */
const widgetFile = ['../web/widget.js', '../../web/widget.js'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p));

export interface ApiOptions {
  db: Database;
  log: Logger;
  adminToken: string | undefined;
  defaultRegion: string;
  /** Failed authentications per client address and minute before further failures answer 429. */
  authFailuresPerMinute?: number;
  /**
   * Express 'trust proxy': the reverse proxies whose X-Forwarded-For names the client (hop
   * count, addresses, subnets or loopback/uniquelocal). Default false: the peer address is the
   * client, as when nothing stands in front of the API.
   */
  trustProxy?: boolean | number | string;
  /** How long a verified merchant key is trusted without reading the database again. */
  keyCacheTtlMs?: number;
  /** LISTEN on the database, for live streams; without it streams only poll (heartbeat). */
  listen?: DbHandle['listen'];
  stream?: StreamOptions;
  /** Serve the demo merchant site under /demo (development only). */
  demo?: boolean;
  /** Accept webhook URLs on loopback/private addresses (development, tests). */
  webhookAllowPrivateNetworks?: boolean;
  /** What GET /readyz checks (default: the database only; `all` adds the IVR's checks). */
  readiness?: Readiness;
  /** Purchases created per phone number and per buyer address per hour (default: domain/identity.ts). */
  purchaseLimits?: PurchaseLimits;
  /** How long a caller's personal data is kept before it may be anonymised (default 400 days). */
  retentionDays?: number;
}

/** A database that does not answer `select 1` within this long is not ready. */
export const READINESS_DB_TIMEOUT_MS = 1_000;

const hubs = new WeakMap<express.Express, PurchaseEventHub>();

/** What the app's live streams hold right now (all 0 when no stream client is connected). */
export function liveStats(app: express.Express): LiveStats {
  return hubs.get(app)!.stats();
}

/** Bodies are JSON, hence UTF-8: bytes that do not decode are refused, never replaced by U+FFFD. */
function utf8Only(_req: unknown, _res: unknown, body: Buffer): void {
  if (!isUtf8(body)) throw new Error('The request body is not valid UTF-8.');
}

export function createApi(opts: ApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag: answers are no-store, so no client revalidates them, and hashing each body costs
  // (widget.js, the one cached answer, is still revalidated by its Last-Modified).
  app.disable('etag');
  app.set('trust proxy', opts.trustProxy ?? false);
  catchRoutes(app.request);
  const logRequest = requestLog(app.request, opts.log, { isCapacityRefusal });
  // What every request gets, in one router layer: its latency timed, its log line, and the
  // headers every answer carries: never sniffed as another type, never kept by a cache unless
  // its route says so (only widget.js does), since keys, tokens and purchases are in most of
  // them. Then a path that does not decode is refused.
  app.use((req, res, next) => {
    observeHttpLatency(req, res);
    logRequest(req, res);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    rejectMalformedPath(req, res, next);
  });
  // Every body we accept is a few hundred bytes; anything bigger is refused with 413. Bodies
  // are parsed only after authentication: an anonymous client cannot make us parse anything.
  // No Content-Encoding (415): a compressed body would be a decompression bomb to inflate.
  const parseJson = express.json({ limit: '16kb', type: ['application/json', 'application/*+json'], inflate: false, verify: utf8Only });
  // GET, HEAD and DELETE carry no body we read: the status read (the hot path) skips the parser.
  const json: express.RequestHandler = (req, res, next) => (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE' ? next() : parseJson(req, res, next));

  const limiter = new AuthFailureLimiter(opts.authFailuresPerMinute ?? 30);
  const merchantAuth = requireMerchant(opts.db, limiter, new VerifiedKeyCache(opts.keyCacheTtlMs));
  const tokens = new ClientTokens(opts.db);
  // The status read (the hot path: merchants poll it) is one route with its full path, before
  // the mounts below: the same authentication and handler as the merchant API's other routes
  // (api/routes/purchases.ts), without walking the mounts to reach it.
  app.get('/v1/purchases/:id', merchantAuth, readPurchase(opts.db));
  if (opts.demo) app.use('/demo', demoRoutes({ db: opts.db, log: opts.log, tokens, defaultRegion: opts.defaultRegion }));
  const hub = new PurchaseEventHub(opts.listen ?? (async () => async () => {}), opts.log, opts.stream);
  hubs.set(app, hub);
  // A path under /v1/client or /v1/admin that no route takes is unknown (404), never a
  // merchant request: the admin token must not be tried, and counted, as a merchant key.
  app.use('/v1/client', clientRoutes(opts.db, tokens, hub, limiter), unknownRoute);
  app.use('/v1/admin', requireAdmin(opts.adminToken, limiter), json, adminRoutes(opts.db, opts.defaultRegion, { retentionDays: opts.retentionDays ?? defaultRetentionDays }), unknownRoute);
  // Everything else under /v1 is the merchant API, authenticated by the merchant's key.
  const merchant = express.Router();
  merchant.use('/purchases', purchaseRoutes(opts.db, opts.defaultRegion, { tokens, hub }, opts.purchaseLimits ?? defaultPurchaseLimits));
  merchant.use('/codes', codeRoutes(opts.db));
  merchant.use(webhookRoutes(opts.db, opts.webhookAllowPrivateNetworks ?? false));
  merchant.use(originRoutes(opts.db));
  app.use('/v1', merchantAuth, json, merchant);

  // Public routes, after the API's: no request under /v1 is matched against them.
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  const readiness = opts.readiness ?? new Readiness({ database: () => databaseReachable(opts.db, READINESS_DB_TIMEOUT_MS) });
  app.get('/readyz', async (_req, res) => {
    const report = await readiness.report();
    res.status(report.ready ? 200 : 503).json(report);
  });

  // The widget merchants' pages embed with <script src=".../widget.js" data-token="ct_…">.
  app.get('/widget.js', (_req, res, next) => {
    if (!widgetFile) return next();
    res.set({ 'Cache-Control': 'public, max-age=300', 'Cross-Origin-Resource-Policy': 'cross-origin' });
    res.type('text/javascript').sendFile(widgetFile);
  });

  // The API's description: GET /openapi.json and the page GET /docs, public.
  app.use(docsRoutes());

  app.use(unknownRoute);
  app.use(problemHandler);
  return app;
}
