// The real stack for end-to-end tests: Asterisk 22 (chroot), a fresh PostgreSQL database, the
// IVR worker connected over ARI, and the API on an ephemeral port. One test file at a time
// (vitest fileParallelism: false): they share Asterisk and its Stasis application.
import { mkdirSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { redactPaths } from '../../core/log.js';
import { sql } from 'drizzle-orm';
import { createApi } from '../../api/app.js';
import { loadConfig } from '../../core/config.js';
import { startIvr, type IvrWorker } from '../../ivr/worker.js';
import { asterisk } from './asterisk.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { listen, type Http } from './http.js';

import { ADMIN } from './constants.js';

export { ADMIN };

export interface E2eStack {
  t: TestDatabase;
  http: Http;
  log: Logger;
  merchantKey: string;
  merchantId: string;
  ivr(): IvrWorker | undefined;
  stopIvr(): Promise<void>;
  startIvr(): Promise<void>;
  createOffer(body: Record<string, unknown>): Promise<string>;
  readPurchase(id: string): Promise<any>;
  closedCalls(dialedE164: string, count: number): Promise<CallRecord[]>;
  stop(): Promise<void>;
}

export interface CallRecord {
  outcome: string;
  caller_number: string | null;
  answered_at: Date | null;
  answered_seconds: number | null;
  hangup_cause: number | null;
  ended_at: Date | null;
  purchase_id: string | null;
}

export async function startE2eStack(name: string, apiOptions: Record<string, unknown> = {}): Promise<E2eStack> {
  mkdirSync('test-artifacts', { recursive: true });
  const log = pino({ level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } }, pino.destination({ dest: `test-artifacts/e2e-${name}.log`, sync: true }));
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'debug' });
  await asterisk('start');
  const t = await createTestDatabase();
  let ivr: IvrWorker | undefined = await startIvr(t.db, config, log);
  const http = await listen(createApi({ db: t.db, log, adminToken: ADMIN, defaultRegion: 'FR', listen: t.listen, ...apiOptions }));
  const merchant = await http.request('POST', '/v1/admin/merchants', { token: ADMIN, body: { name: `E2E ${name}` } });

  const stack: E2eStack = {
    t,
    http,
    log,
    merchantKey: merchant.body.apiKey,
    merchantId: merchant.body.id,
    ivr: () => ivr,
    async stopIvr() {
      await ivr?.stop();
      ivr = undefined;
      // Asterisk unregisters the application when its websocket closes.
      for (let i = 0; i < 50 && (await asterisk('rx', 'ari show apps')).includes(config.ARI_APP); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async startIvr() {
      ivr = await startIvr(t.db, config, log);
    },
    async createOffer(body) {
      const res = await http.request('POST', '/v1/admin/offers', { token: ADMIN, body: { merchantId: merchant.body.id, name: 'e2e', language: 'fr', ...body } });
      if (res.status !== 201) throw new Error(`offer: ${JSON.stringify(res.body)}`);
      return res.body.id;
    },
    async readPurchase(id) {
      return (await http.request('GET', `/v1/purchases/${id}`, { token: merchant.body.apiKey })).body;
    },
    /** The ledger's records of calls on a dialed number, once every one of them is closed. */
    async closedCalls(dialedE164, count) {
      for (let i = 0; i < 300; i++) {
        const rows = (await t.db.execute(
          sql`select outcome, caller_number, answered_at, answered_seconds, hangup_cause, ended_at, purchase_id from calls where dialed_number = ${dialedE164} order by started_at`,
        )) as unknown as CallRecord[];
        if (rows.length >= count && rows.every((r) => r.ended_at)) return rows;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`calls on ${dialedE164} not closed in time`);
    },
    async stop() {
      await ivr?.stop();
      await http.close();
      await t.drop();
    },
  };
  return stack;
}
