/** GET /metrics: Prometheus text exposition of this gateway's registry. */
import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from '../metrics.js';

export async function metricsRoutes(app: FastifyInstance, deps: { metrics: GatewayMetrics }): Promise<void> {
  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
