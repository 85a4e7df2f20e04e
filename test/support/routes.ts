// Every method + path an Express app answers, read from its own router, so that tests cover a
// new route without anyone listing it.
import type { Express } from 'express';

export interface RouteInfo {
  method: string;
  /** Express form: /v1/purchases/:id */
  path: string;
}

/** Walks the router stack (Express 5 / router 2 layers), mounted routers included. */
function routesOf(stack: any[], prefix = ''): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) routes.push({ method: method.toUpperCase(), path: (prefix + layer.route.path).replace(/(.)\/$/, '$1') });
    } else if (Array.isArray(layer.handle?.stack)) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      routes.push(...routesOf(layer.handle.stack, prefix + mount));
    }
  }
  return routes;
}

export function appRoutes(app: Express): RouteInfo[] {
  return routesOf((app as unknown as { router: { stack: unknown[] } }).router.stack);
}
