/**
 * Security headers (helmet), CORS (off unless CORS_ORIGINS lists origins) — the body size limit
 * is Fastify's bodyLimit (app.ts) and the per-client rate limit is applied to /api/* (app.ts).
 */
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

export async function securityPlugins(app: FastifyInstance, opts: { corsOrigins: string[] }): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'frame-ancestors': ["'none'"],
        // The gateway is often reached over plain HTTP on a LAN address: upgrading the page's own
        // requests to https there would break it.
        'upgrade-insecure-requests': null,
      },
    },
    // Same reason: HSTS over plain HTTP is ignored at best; behind TLS the proxy should set it.
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
  });
  if (opts.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: opts.corsOrigins.includes('*') ? '*' : opts.corsOrigins,
      methods: ['GET', 'POST'],
      // No allowedHeaders: the preflight's requested headers are allowed back. A fixed list left out
      // Authorization (API_KEYS) and the openai client's x-stainless-* headers, so no browser at an
      // allowed origin could send a keyed request; the origin list is what restricts.
      exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600,
      // An OPTIONS that is not a preflight (no Origin) is answered as any OPTIONS (204), not with
      // the plugin's plain-text 400 "Invalid Preflight Request", outside every error format.
      strictPreflight: false,
    });
  }
}
