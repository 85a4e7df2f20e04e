// HTTP latency by route for Prometheus (sanscode_http_request_duration_seconds). The route is
// the Express template that served the request (/v1/purchases/:id), caught when the router
// assigns req.route, while req.baseUrl still holds the mount path: never the raw URL, which
// carries ids and client tokens. A request no route took is 'unmatched'. Event streams are
// left out: their duration is the visitor's stay, not a latency (sanscode_live_streams).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { httpSeconds } from '../core/metrics.js';

const routeSeen = Symbol('route');
const routeLabel = Symbol('routeLabel');
const startedAt = Symbol('startedAt');

type Observed = IncomingMessage & {
  baseUrl?: string;
  [routeSeen]?: unknown;
  [routeLabel]?: string;
  [startedAt]?: number;
};

/**
 * Puts the route catcher on `appRequest` (the prototype of the app's requests): Express's
 * `req.route = route` then goes through this setter. Once, on the prototype: an accessor
 * defined on each request, with closures of its own, gave every request a hidden class of its
 * own (V8 keeps accessors in the object's map), and the API spent about a fifth more time in
 * GC (docs/performance.md).
 */
export function catchRoutes(appRequest: object): void {
  Object.defineProperty(appRequest, 'route', {
    configurable: true,
    enumerable: true,
    get(this: Observed): unknown {
      return this[routeSeen];
    },
    set(this: Observed, value: { path?: unknown } | undefined) {
      this[routeSeen] = value;
      // A router's root route ('/' under /v1/purchases) is named by its mount path alone.
      if (value && typeof value.path === 'string') this[routeLabel] = this.baseUrl && value.path === '/' ? this.baseUrl : `${this.baseUrl ?? ''}${value.path}`;
    },
  });
}

function observe(this: ServerResponse & { req: Observed }): void {
  if (String(this.getHeader('content-type') ?? '').startsWith('text/event-stream')) return;
  const req = this.req;
  httpSeconds.observe({ method: req.method ?? '', route: req[routeLabel] ?? 'unmatched', status_code: String(this.statusCode) }, (performance.now() - req[startedAt]!) / 1000);
}

/** Starts timing a request (the app's request prototype must have had catchRoutes). */
export function observeHttpLatency(req: IncomingMessage, res: ServerResponse): void {
  (req as Observed)[startedAt] = performance.now();
  // One listener function for every response: it finds the request as res.req.
  res.once('finish', observe);
}
