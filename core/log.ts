// One pino logger for the whole process. Secrets are redacted by path so that an API key or
// the admin token never reaches a log line, even when a request is logged whole.
import { pino, type Logger } from 'pino';

export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'ARI_PASSWORD',
  'ADMIN_TOKEN',
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  'clientToken',
  '*.clientToken',
  'req.query.token',
];

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' } });
}

export type { Logger };
