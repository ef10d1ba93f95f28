/**
 * GET /healthz: the process is alive (for restarts). GET /readyz: it can serve — Redis answers and
 * at least one worker reports a loaded model; otherwise 503 with the reason (for load balancers and
 * for the operator: a worker's own error, e.g. a sha256 mismatch, is shown here). A new artifact
 * that serving workers refused is shown too (`refused`), without making the service not ready.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { errorBody } from '../errors/api-error.js';
import type { Jobs, Workers } from '../parts.js';
import { summarize } from '../workers.js';

const Workers = Type.Object({ ready: Type.Integer(), loading: Type.Integer(), error: Type.Integer() });
const Refused = Type.Optional(Type.Array(Type.String(), { description: 'Workers that refused a new artifact in MODEL_DIR and keep serving their model, and why.' }));
const ReadySchema = Type.Object({ status: Type.Literal('ready'), workers: Workers, refused: Refused });
const NotReadySchema = Type.Object({
  status: Type.Literal('not_ready'),
  redis: Type.Boolean(),
  workers: Type.Optional(Workers),
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export async function healthRoutes(app: FastifyInstance, deps: { jobs: Pick<Jobs, 'reachable'>; workers: Pick<Workers, 'heartbeats'> }): Promise<void> {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'Redis reachable and at least one worker ready', response: { 200: ReadySchema, 503: NotReadySchema } } },
    async (_request, reply) => {
      if (!(await deps.jobs.reachable(1000))) {
        return reply.code(503).send({ status: 'not_ready', redis: false, ...errorBody('REDIS_UNREACHABLE', 'Redis is not reachable') });
      }
      let summary;
      try {
        summary = summarize(await deps.workers.heartbeats());
      } catch {
        return reply.code(503).send({ status: 'not_ready', redis: false, ...errorBody('REDIS_UNREACHABLE', 'Redis is not reachable') });
      }
      const workers = { ready: summary.ready, loading: summary.loading, error: summary.error };
      if (summary.ready === 0) {
        return reply.code(503).send({ status: 'not_ready', redis: true, workers, ...errorBody('NO_WORKER', summary.reason ?? 'no worker is ready') });
      }
      return { status: 'ready' as const, workers, ...(summary.refusals ? { refused: summary.refusals } : {}) };
    },
  );
}
