// sanscode's single entry point:
//   sanscode migrate   apply database migrations and exit
//   sanscode api       HTTP API only
//   sanscode ivr       IVR worker only: with PostgreSQL, one serves each Asterisk node
//                      (IVR_NODE) and any others started for it stand by
//   sanscode all       both in one process (development, small sites)
//   sanscode help      the operator commands (bin/cli/: merchant, offer, report, ...)
import type { Server } from 'node:http';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { openDatabase } from '../db/client.js';
import { databaseReachable, expireDuePurchases, metricsFigures } from '../db/ledger/index.js';
// The roles are loaded only when started: an operator command (bin/cli/) needs neither.
import type { WebhookSender } from '../webhooks/sender.js';
import type { IvrWorker, startElectedIvr } from '../ivr/worker.js';
import { isCliCommand, runCli } from './cli/index.js';
import { installProcessGuards } from './process-guards.js';

/** Longest orderly shutdown before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(command: string): Promise<void> {
  if (isCliCommand(command)) {
    process.exitCode = await runCli(process.argv.slice(2));
    return;
  }
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  if (!['migrate', 'api', 'ivr', 'all'].includes(command)) {
    console.error('usage: sanscode migrate|api|ivr|all, or an operator command (sanscode help)');
    process.exit(2);
  }
  const handle = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR });
  log.info({ database: handle.kind }, 'database ready');
  if (command === 'migrate') {
    await handle.close();
    return;
  }
  let server: Server | undefined;
  const sideServers: Server[] = []; // health (IVR role) and metrics
  let ivr: IvrWorker | ReturnType<typeof startElectedIvr> | undefined;
  let sender: WebhookSender | undefined;
  let expiry: NodeJS.Timeout | undefined;
  let stopping = false;
  const shutdown = async (why: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'shutting down');
    setTimeout(() => process.exit(exitCode), SHUTDOWN_DEADLINE_MS).unref();
    try {
      clearInterval(expiry);
      await ivr?.stop();
      await sender?.stop();
      for (const side of sideServers) side.close();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await handle.close();
    } catch (err) {
      log.error({ err }, 'shutdown failed');
    }
    process.exit(exitCode);
  };
  // Before anything that can fail in the background (see process-guards.ts for the policy).
  installProcessGuards(log, () => void shutdown('uncaughtException', 1));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  // Loaded here, like the roles: operator commands need no metrics registry.
  const [{ Readiness, startHealthServer, startMetricsServer }, { setLedgerSource }] = await Promise.all([import('../core/health.js'), import('../core/metrics.js')]);
  const runsIvr = command === 'ivr' || command === 'all';
  const readiness = new Readiness({
    database: () => databaseReachable(handle.db, 1_000),
    // Until startIvr returns (first ARI connection) there is no worker: ARI reads disconnected.
    ...(runsIvr && { ari: () => ivr?.status().ariConnected ?? false, worker: () => ivr?.status().active ?? true }),
  });
  // Prometheus on its own port, loopback unless METRICS_HOST says otherwise (README, Monitoring).
  const metricsPort = config.METRICS_PORT === undefined ? (command === 'ivr' ? 9465 : 9464) : config.METRICS_PORT;
  if (metricsPort !== null) {
    await startMetricsServer(metricsPort, config.METRICS_HOST, log).then(
      (s) => sideServers.push(s),
      (err: unknown) => log.error({ err, port: metricsPort }, 'metrics server not started'),
    );
  }
  if (command === 'ivr') sideServers.push(await startHealthServer(readiness, config.HEALTH_PORT, config.HOST, log));
  if (command === 'api' || command === 'all') {
    // Pool states and the webhook backlog, read at scrape time by the processes that serve them.
    setLedgerSource(() => metricsFigures(handle.db));
    const [{ createApi }, { startWebhookSender }] = await Promise.all([import('../api/app.js'), import('../webhooks/sender.js')]);
    const app = createApi({ db: handle.db, log, adminToken: config.ADMIN_TOKEN, defaultRegion: config.DEFAULT_REGION, listen: handle.listen, demo: config.DEMO, webhookAllowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS, trustProxy: config.TRUST_PROXY, readiness, stream: { maxPerPurchase: config.MAX_STREAMS_PER_PURCHASE, maxPerProcess: config.MAX_STREAMS_PER_PROCESS }, purchaseLimits: { perNumber: config.PURCHASES_PER_NUMBER_PER_HOUR, perClientIp: config.PURCHASES_PER_CLIENT_IP_PER_HOUR, windowSeconds: 3600 }, retentionDays: config.RETENTION_DAYS });
    server = app.listen(config.PORT, config.HOST, () => log.info({ port: config.PORT, host: config.HOST }, 'API listening'));
    sender = startWebhookSender(handle.db, log.child({ component: 'webhooks' }), { allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS });
    // Tells pages and merchants about purchases whose time ran out (reads never needed it).
    expiry = setInterval(() => {
      expireDuePurchases(handle.db).catch((err) => log.error({ err }, 'expiry sweep failed'));
    }, 5_000);
  }
  if (command === 'ivr' || command === 'all') {
    const { startIvr, startElectedIvr } = await import('../ivr/worker.js');
    // With PostgreSQL, workers of one node elect the one that serves it; an embedded database
    // belongs to this one process, so it serves its node alone.
    ivr = config.DATABASE_URL ? startElectedIvr(handle.db, { ...config, DATABASE_URL: config.DATABASE_URL }, log) : await startIvr(handle.db, config, log);
  }
}

main(process.argv[2] ?? 'all').catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
