// Wires the call flow to Asterisk: one IVR worker per Asterisk node (one ARI application
// connection); several nodes' workers share the same database.
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { ariConnected, ivrLeader, setActiveCallsSource } from '../core/metrics.js';
import type { Database } from '../db/client.js';
import { AriTelephony } from './ari.js';
import { CallFlow } from './call-flow.js';

export interface IvrWorker {
  flow: CallFlow;
  telephony: AriTelephony;
  /** What readiness reports: the ARI link is up; this worker serves calls (not stopped). */
  status(): { ariConnected: boolean; active: boolean };
  stop(): Promise<void>;
}

export async function startIvr(db: Database, config: Config, log: Logger): Promise<IvrWorker> {
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
  await telephony.start({
    // Neither ever rejects: each call's failures end inside its own flow.
    callStarted: (call) => void flow.callStarted(call),
    callEnded: (info) => void flow.callEnded(info),
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
  return {
    flow,
    telephony,
    status: () => ({ ariConnected: connected, active }),
    async stop() {
      active = false;
      ivrLeader.set(0);
      ariConnected.set(0);
      setActiveCallsSource(null);
      flow.stop();
      await telephony.stop();
    },
  };
}
