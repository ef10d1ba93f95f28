import type { FastifyInstance } from 'fastify';

/**
 * The methods each route of `app`'s scope answers, filled as routes are registered (call it before
 * any is), so that a not-found handler can tell a known path asked with another method (405 with
 * Allow, RFC 9110 §15.5.6) from a path that does not exist. Paths with parameters or wildcards are
 * left out (none of them is an API route).
 */
export function routeMethods(app: FastifyInstance): (path: string) => ReadonlySet<string> | undefined {
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (/[:*]/.test(route.url)) return;
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) methods.add(m);
    methodsByPath.set(route.url, methods);
  });
  return (path) => methodsByPath.get(path);
}

/** `path` without its query string. */
export const pathOf = (url: string): string => url.split('?')[0] ?? '';
