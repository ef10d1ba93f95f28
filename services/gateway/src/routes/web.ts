/**
 * GET /: the built web page (web/dist) through @fastify/static. When it has not been built the API
 * still works, and / says what to do instead of a bare 404.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../errors/api-error.js';

export async function webRoutes(app: FastifyInstance, deps: { webDir: string }): Promise<void> {
  if (!existsSync(join(deps.webDir, 'index.html'))) {
    app.log.warn({ webDir: deps.webDir }, 'web page not built; GET / will say so (run npm run build)');
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply.code(503).send(errorBody('WEB_NOT_BUILT', 'The web page has not been built; run npm run build')),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: deps.webDir,
    index: ['index.html'],
    // Not at /docs etc.: only files that exist are served; everything else falls to the 404 handler.
    wildcard: false,
    // The page is tiny and changes with every build: revalidate (ETag) rather than cache blindly.
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
  });
}
