/**
 * Draining on close: Node's server.close() stops accepting and waits for every connection to end,
 * but a keep-alive connection whose request finishes after close() began stays open, idle, and
 * would hold the process until the client lets go. While closing, answers say `connection: close`
 * and idle connections are closed as soon as they become idle.
 */
import type { FastifyInstance } from 'fastify';

export function drainOnClose(app: FastifyInstance): void {
  let closing = false;
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
    sweeper.unref();
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => clearInterval(sweeper));
}
