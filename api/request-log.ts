// One log line per request, written when its response closes: method, path (credentials in the
// query replaced, buyers' numbers masked), status, duration, client address. Replaces pino-http,
// which built a child logger for every request and serialized every header: that cost more than
// the status read it logged (bench/: ~0.2 ms of CPU a request). Headers are not logged at all:
// a client can put a credential in any of them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Level, Logger } from 'pino';
import { httpLogSerializers, redactUrl } from '../core/log.js';

declare module 'http' {
  interface IncomingMessage {
    /** This request's number in this process (in every line about it). */
    id?: number;
    /** A logger whose lines carry this request (`req`); made on first use. */
    log: Logger;
  }
}

export interface RequestLogOptions {
  /** A response that is a deliberate refusal for lack of capacity: logged at info, not as an error. */
  isCapacityRefusal(res: ServerResponse): boolean;
}

const requestLogger = Symbol('requestLogger');
const startedAt = Symbol('startedAt');
type Logged = IncomingMessage & { [requestLogger]?: Logger; [startedAt]?: number; originalUrl?: string };

/**
 * Mounts the request log on `app.request` (the prototype of the app's requests, so req.log costs
 * nothing until a handler uses it) and returns what starts each request's line (written when
 * its response closes).
 */
export function requestLog(appRequest: object, log: Logger, opts: RequestLogOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const showNumbers = log.isLevelEnabled('debug');
  // What describe() returns is already safe to log: no serializer reshapes it. Handlers' lines
  // (req.log) keep the logger's redaction; the request line, whose every field is known, skips
  // it (it was a third of the line's cost and could never change a byte of it).
  const handlerLines = log.child({}, { serializers: { req: (r: unknown) => r, err: httpLogSerializers(log).err } });
  const requestLines = handlerLines.child({}, { redact: [] });
  const describe = (req: Logged) => ({
    id: req.id,
    method: req.method,
    url: redactUrl(req.originalUrl ?? req.url ?? '', showNumbers),
    remoteAddress: req.socket.remoteAddress,
  });
  Object.defineProperty(appRequest, 'log', {
    configurable: true,
    get(this: Logged): Logger {
      return (this[requestLogger] ??= handlerLines.child({ req: describe(this) }));
    },
  });

  // One listener function for every response: it finds the request as res.req.
  function writeLine(this: ServerResponse & { req: Logged }): void {
    const req = this.req;
    const fields = { req: describe(req), res: { statusCode: this.statusCode }, responseTime: Date.now() - req[startedAt]! };
    const refusal = opts.isCapacityRefusal(this);
    const level: Level = refusal ? 'info' : this.statusCode >= 500 ? 'error' : this.statusCode >= 400 ? 'warn' : 'info';
    const message = refusal ? 'request refused for lack of capacity' : this.statusCode >= 500 ? 'request errored' : 'request completed';
    requestLines[level](fields, message);
  }

  let nextId = 1;
  return (req, res) => {
    (req as Logged)[startedAt] = Date.now();
    req.id = nextId++;
    // 'close' follows 'finish', and also ends a response the client abandoned.
    res.once('close', writeLine);
  };
}
