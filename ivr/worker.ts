// Wires the call flow to Asterisk: one IVR worker per Asterisk node (one ARI application
// connection); several nodes' workers share the same database.
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import type { Database } from '../db/client.js';
import { AriTelephony } from './ari.js';
import { CallFlow } from './call-flow.js';

export interface IvrWorker {
  flow: CallFlow;
  telephony: AriTelephony;
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
  await telephony.start({
    // Neither ever rejects: each call's failures end inside its own flow.
    callStarted: (call) => void flow.callStarted(call),
    callEnded: (info) => void flow.callEnded(info),
    // After every (re)connection: close what vanished, take up what is still there.
    connected: (asteriskId) => void flow.resync(asteriskId).catch((err: unknown) => ivrLog.error({ err }, 'resync failed')),
  });
  return {
    flow,
    telephony,
    async stop() {
      flow.stop();
      await telephony.stop();
    },
  };
}
