// Liveness, readiness and the Prometheus endpoint.
// - /healthz: the process answers (nothing checked).
// - /readyz: the database answers, and for the IVR role, ARI is connected and this worker is
//   the active one. 200 {ready:true, checks} or 503 {ready:false, checks}: check names and
//   states only, never a host, URL or error message.
// The API serves both on its own port (api/app.ts); the IVR role serves them on HEALTH_PORT
// (startHealthServer). /metrics is served by startMetricsServer on METRICS_PORT, bound to
// loopback by default: it is never on the public API port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { registry } from './metrics.js';

export interface ReadinessChecks {
  /** The database answers (the caller bounds the time it takes); never rejects. */
  database: () => Promise<boolean>;
  /** IVR role only: the ARI connection is up. */
  ari?: () => boolean;
  /** IVR role only: this worker is the one serving its Asterisk node. */
  worker?: () => boolean;
}

export interface ReadinessReport {
  ready: boolean;
  checks: { database: 'up' | 'down'; ari?: 'connected' | 'disconnected'; worker?: 'active' | 'standby' };
}

/** A database check is reused for this long: probes from several sources cost one query. */
const DATABASE_CACHE_MS = 1_500;

export class Readiness {
  private database: { at: number; up: Promise<boolean> } | null = null;

  constructor(private readonly checks: ReadinessChecks) {}

  async report(): Promise<ReadinessReport> {
    const now = Date.now();
    if (!this.database || now - this.database.at >= DATABASE_CACHE_MS) this.database = { at: now, up: this.checks.database().catch(() => false) };
    const checks: ReadinessReport['checks'] = { database: (await this.database.up) ? 'up' : 'down' };
    if (this.checks.ari) checks.ari = this.checks.ari() ? 'connected' : 'disconnected';
    if (this.checks.worker) checks.worker = this.checks.worker() ? 'active' : 'standby';
    const ready = checks.database === 'up' && checks.ari !== 'disconnected' && checks.worker !== 'standby';
    return { ready, checks };
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

function listen(server: Server, port: number, host: string, log: Logger, what: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // A failure after start (none expected) is logged, never fatal: calls go on without it.
      server.on('error', (err) => log.error({ err }, `${what} server error`));
      const address = server.address();
      log.info({ host, port: typeof address === 'object' && address ? address.port : port }, `${what} listening`);
      resolve(server);
    });
  });
}

function onlyGet(req: IncomingMessage, res: ServerResponse): string | null {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'application/json', '{"error":"method not allowed"}');
    return null;
  }
  return path;
}

/** /healthz and /readyz on their own port (the IVR role, which has no API). */
export function startHealthServer(readiness: Readiness, port: number, host: string, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = onlyGet(req, res);
    if (path === null) return;
    if (path === '/healthz') return send(res, 200, 'application/json', '{"ok":true}');
    if (path !== '/readyz') return send(res, 404, 'application/json', '{"error":"not found"}');
    readiness.report().then(
      (r) => send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r)),
      () => send(res, 503, 'application/json', '{"ready":false}'),
    );
  });
  return listen(server, port, host, log, 'health');
}

/** GET /metrics in the Prometheus text format, on its own port. */
export function startMetricsServer(port: number, host: string, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = onlyGet(req, res);
    if (path === null) return;
    if (path !== '/metrics') return send(res, 404, 'text/plain', 'not found\n');
    registry.metrics().then(
      (text) => send(res, 200, registry.contentType, text),
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        send(res, 500, 'text/plain', 'metrics collection failed\n');
      },
    );
  });
  return listen(server, port, host, log, 'metrics');
}
