/**
 * Draining on close: Node's server.close() stops accepting and waits for every connection to end,
 * but a keep-alive connection whose request finishes after close() began stays open, idle, and
 * would hold the process until the client lets go. While closing, answers say `connection: close`
 * and idle connections are closed as soon as they become idle. A new request arriving on an open
 * connection meanwhile gets our 503 error body (Fastify's own return503OnClosing is switched off
 * in app.ts, as its body is not in the API's error format).
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors/api-error.js';

export function drainOnClose(app: FastifyInstance): void {
  let closing = false;
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
    sweeper.unref();
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new ApiError(503, 'SHUTTING_DOWN', 'The gateway is shutting down; try again', 1);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
}
