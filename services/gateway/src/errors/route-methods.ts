import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * For a request that found no route: the methods its path takes (an `Allow` value, RFC 9110
 * §15.5.6) when the path is a route of `app`'s scope asked with another method, else undefined — a
 * path that does not exist. Filled as routes are registered (call it before any is); paths with
 * parameters or wildcards are left out (none of them is an API route).
 */
export function allowedMethods(app: FastifyInstance): (request: FastifyRequest) => string | undefined {
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (/[:*]/.test(route.url)) return;
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) methods.add(m);
    methodsByPath.set(route.url, methods);
  });
  return (request) => {
    const methods = methodsByPath.get(pathOf(request.url));
    return methods === undefined || methods.has(request.method) ? undefined : [...methods].sort().join(', ');
  };
}

/** `url` without its query string. */
export const pathOf = (url: string): string => url.split('?')[0] ?? '';
