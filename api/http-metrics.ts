// HTTP latency by route for Prometheus (sanscode_http_request_duration_seconds). The route is
// the Express template that served the request (/v1/purchases/:id), caught when the router
// assigns req.route, while req.baseUrl still holds the mount path: never the raw URL, which
// carries ids and client tokens. A request no route took is 'unmatched'. Event streams are
// left out: their duration is the visitor's stay, not a latency (sanscode_live_streams).
import type { NextFunction, Request, Response } from 'express';
import { httpSeconds } from '../core/metrics.js';

export function observeHttpLatency(req: Request, res: Response, next: NextFunction): void {
  const done = httpSeconds.startTimer();
  let route = 'unmatched';
  let current: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set(value: { path?: unknown } | undefined) {
      current = value;
      // A router's root route ('/' under /v1/purchases) is named by its mount path alone.
      if (value && typeof value.path === 'string') route = req.baseUrl && value.path === '/' ? req.baseUrl : `${req.baseUrl}${value.path}`;
    },
  });
  res.once('finish', () => {
    if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
    done({ method: req.method, route, status_code: String(res.statusCode) });
  });
  next();
}
