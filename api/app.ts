// The HTTP API as an Express 5 app (async handlers' errors reach problemHandler by themselves).
import { existsSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import { httpLogSerializers } from '../core/log.js';
import type { Database, DbHandle } from '../db/client.js';
import { ClientTokens } from './client-token.js';
import { PurchaseEventHub, type StreamOptions } from './live.js';
import { clientRoutes } from './routes/client.js';
import { originRoutes } from './routes/origins.js';
import { AuthFailureLimiter, requireAdmin, requireMerchant } from './auth.js';
import { problemHandler, unknownRoute } from './problem.js';
import { adminRoutes } from './routes/admin.js';
import { purchaseRoutes } from './routes/purchases.js';
import { webhookRoutes } from './routes/webhooks.js';
import { demoRoutes } from '../demo/routes.js';

/** The embeddable widget (web/widget.js), from the source tree or next to a build in dist/. */
const widgetFile = ['../web/widget.js', '../../web/widget.js'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p));

export interface ApiOptions {
  db: Database;
  log: Logger;
  adminToken: string | undefined;
  defaultRegion: string;
  /** Failed authentications allowed per client address and minute. */
  authFailuresPerMinute?: number;
  /** LISTEN on the database, for live streams; without it streams only poll (heartbeat). */
  listen?: DbHandle['listen'];
  stream?: StreamOptions;
  /** Serve the demo merchant site under /demo (development only). */
  demo?: boolean;
  /** Accept webhook URLs on loopback/private addresses (development, tests). */
  webhookAllowPrivateNetworks?: boolean;
}

export function createApi(opts: ApiOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(pinoHttp({ logger: opts.log, serializers: httpLogSerializers(opts.log), customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info') }));
  // Every body we accept is a few hundred bytes; anything bigger is refused with 413. Bodies
  // are parsed only after authentication: an anonymous client cannot make us parse anything.
  const json = express.json({ limit: '16kb', type: ['application/json', 'application/*+json'] });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  // The widget merchants' pages embed with <script src=".../widget.js" data-token="ct_…">.
  app.get('/widget.js', (_req, res, next) => {
    if (!widgetFile) return next();
    res.set({ 'Cache-Control': 'public, max-age=300', 'Cross-Origin-Resource-Policy': 'cross-origin' });
    res.type('text/javascript').sendFile(widgetFile);
  });

  const limiter = new AuthFailureLimiter(opts.authFailuresPerMinute ?? 30);
  const tokens = new ClientTokens(opts.db);
  if (opts.demo) app.use('/demo', demoRoutes({ db: opts.db, log: opts.log, tokens, defaultRegion: opts.defaultRegion }));
  const hub = new PurchaseEventHub(opts.listen ?? (async () => async () => {}), opts.log);
  app.use('/v1/client', clientRoutes(opts.db, tokens, hub, limiter, opts.stream));
  app.use('/v1/admin', limiter.guard, requireAdmin(opts.adminToken, limiter), json, adminRoutes(opts.db, opts.defaultRegion));
  // Everything else under /v1 is the merchant API, authenticated by the merchant's key.
  const merchant = express.Router();
  merchant.use('/purchases', purchaseRoutes(opts.db, opts.defaultRegion, { tokens, hub, stream: opts.stream }));
  merchant.use(webhookRoutes(opts.db, opts.webhookAllowPrivateNetworks ?? false));
  merchant.use(originRoutes(opts.db));
  app.use('/v1', limiter.guard, requireMerchant(opts.db, limiter), json, merchant);

  app.use(unknownRoute);
  app.use(problemHandler);
  return app;
}
