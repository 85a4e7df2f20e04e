// Wires the call flow to Asterisk: one active IVR worker per Asterisk node (one ARI application
// connection), elected among that node's workers (leadership.ts); all nodes' workers share the
// same database.
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { ariConnected, ivrLeader, setActiveCallsSource } from '../core/metrics.js';
import type { Database } from '../db/client.js';
import { AriTelephony } from './ari.js';
import { CallFlow } from './call-flow.js';
import { Leadership } from './leadership.js';

/** What readiness and metrics read: is ARI up, and is this worker the one serving its node. */
export interface IvrStatus {
  ariConnected: boolean;
  active: boolean;
}

export interface IvrWorker {
  flow: CallFlow;
  telephony: AriTelephony;
  status(): IvrStatus;
  stop(): Promise<void>;
}

/** Connects to Asterisk and serves its calls; resolves once connected the first time. */
export async function startIvr(db: Database, config: Config, log: Logger): Promise<IvrWorker> {
  const { worker, connect } = createIvr(db, config, log);
  await connect();
  return worker;
}

/**
 * Serves the node only while elected (config.IVR_NODE): stands by otherwise. Needs PostgreSQL
 * (the lock lives there); an embedded database is one process anyway (use startIvr).
 */
export function startElectedIvr(
  db: Database,
  config: Config & { DATABASE_URL: string },
  log: Logger,
): { leadership: Leadership; status(): IvrStatus; stop(): Promise<void> } {
  const ivrLog = log.child({ component: 'ivr', node: config.IVR_NODE });
  let serving: IvrWorker | null = null;
  const leadership = new Leadership({ databaseUrl: config.DATABASE_URL, node: config.IVR_NODE }, ivrLog, () => {
    const { worker, connect } = createIvr(db, config, log);
    serving = worker;
    // Never rejects: it retries until connected or stopped.
    void connect();
    return {
      stop: async () => {
        if (serving === worker) serving = null;
        await worker.stop();
      },
    };
  });
  leadership.start();
  return {
    leadership,
    // A standby is alive and ready to take over, but not the active worker: /readyz says so.
    status: () => ({ ariConnected: serving?.status().ariConnected ?? false, active: leadership.isLeader }),
    stop: () => leadership.stop(),
  };
}

function createIvr(db: Database, config: Config, log: Logger): { worker: IvrWorker; connect(): Promise<void> } {
  const ivrLog = log.child({ component: 'ivr' });
  const telephony = new AriTelephony(
    { url: config.ARI_URL, username: config.ARI_USERNAME, password: config.ARI_PASSWORD, app: config.ARI_APP },
    ivrLog,
  );
  const flow = new CallFlow(db, telephony, ivrLog, {
    defaultRegion: config.DEFAULT_REGION,
    defaultLanguage: config.DEFAULT_LANGUAGE,
    maxCallSeconds: config.MAX_CALL_SECONDS,
  });
  let connected = false;
  let active = true;
  setActiveCallsSource(() => flow.activeCalls);
  ivrLeader.set(1);
  const worker: IvrWorker = {
    flow,
    telephony,
    status: () => ({ ariConnected: connected, active }),
    async stop() {
      active = false;
      connected = false;
      ivrLeader.set(0);
      ariConnected.set(0);
      setActiveCallsSource(null);
      flow.stop();
      await telephony.stop();
    },
  };
  const connect = () =>
    telephony.start({
      // Neither ever rejects: each call's failures end inside its own flow.
      callStarted: (call) => void flow.callStarted(call),
      callEnded: (info) => void flow.callEnded(info),
      callAnswered: (channelId) => flow.callAnswered(channelId),
      // After every (re)connection: close what vanished, take up what is still there.
      connected: (asteriskId) => {
        connected = true;
        ariConnected.set(1);
        void flow.resync(asteriskId).catch((err: unknown) => ivrLog.error({ err }, 'resync failed'));
      },
      disconnected: () => {
        connected = false;
        ariConnected.set(0);
      },
    });
  return { worker, connect };
}
