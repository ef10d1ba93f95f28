/**
 * Prometheus metrics (GET /metrics). One registry per app instance, not prom-client's global one,
 * so tests can build several apps in one process. Queue depth and live workers are read from Redis
 * when scraped, so they are never stale; a scrape while Redis is down still answers (those gauges
 * are simply absent) rather than failing the whole page.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Timings } from '@gpt2-int8/contract/api';
import type { GenerationStats, JobKind } from '@gpt2-int8/contract/job';
import type { Jobs, QueueCounts, Workers } from './parts.js';
import { sumGeneration, summarize } from './workers.js';

interface Snapshot {
  counts: QueueCounts;
  states: { ready: number; loading: number; error: number; generation?: GenerationStats | undefined };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;
  private readonly stages: Histogram<'kind' | 'stage'>;
  private readonly firstToken: Histogram;
  private readonly interToken: Histogram;
  private readonly tokensPerSecond: Histogram;

  constructor(jobs: Pick<Jobs, 'counts' | 'inFlight'>, workers: Pick<Workers, 'heartbeats'>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    this.requests = new Counter({ name: 'gateway_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['method', 'route', 'status'], registers });
    this.latency = new Histogram({
      name: 'gateway_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer leaving, by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.stages = new Histogram({
      name: 'gateway_job_stage_seconds',
      help: 'Per-stage timings reported in job results (queue wait, tokenize, inference) and the gateway total',
      labelNames: ['kind', 'stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    // Generations, from their results' per-token times (the worker's clock): whatever the number of
    // workers, their figures reach Prometheus through this one scrape target.
    this.firstToken = new Histogram({
      name: 'gateway_generation_time_to_first_token_seconds',
      help: 'Generations: queue wait + tokenize + the first token (prompt pass included), as the worker measured them',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.interToken = new Histogram({
      name: 'gateway_generation_inter_token_seconds',
      help: 'Generations: time between successive tokens after the first, as the worker measured it',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.tokensPerSecond = new Histogram({
      name: 'gateway_generation_tokens_per_second',
      help: 'Generations: tokens ÷ the time from its first step to its last token',
      buckets: [5, 10, 25, 50, 100, 200, 400, 800, 1600],
      registers,
    });
    new Gauge({
      name: 'gateway_requests_waiting_for_jobs',
      help: 'Requests of this gateway waiting for a job result',
      registers,
      collect() {
        this.set(jobs.inFlight);
      },
    });
    // A registry collects its metrics concurrently; the Redis-backed gauges share one read per scrape.
    let inflight: Promise<Snapshot | undefined> | undefined;
    const snapshot = () =>
      (inflight ??= Promise.all([jobs.counts(), workers.heartbeats()])
        .then(([counts, heartbeats]) => {
          const { ready, loading, error } = summarize(heartbeats);
          return { counts, states: { ready, loading, error, generation: sumGeneration(heartbeats) } };
        })
        .catch(() => undefined)
        .finally(() => {
          inflight = undefined;
        }));
    // When Redis is unreachable the gauges are left empty (absent), and gateway_redis_up says 0.
    new Gauge({
      name: 'gateway_redis_up',
      help: '1 when this scrape could read the queue and worker heartbeats from Redis',
      registers,
      async collect() {
        this.set((await snapshot()) ? 1 : 0);
      },
    });
    const queueGauge = (name: string, help: string, count: 'waiting' | 'active') =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const s = await snapshot();
          if (s) this.set(s.counts[count]);
          else this.reset();
        },
      });
    queueGauge('gateway_queue_depth', 'Jobs waiting in the queue for a worker', 'waiting');
    queueGauge('gateway_queue_active', 'Jobs being processed by workers', 'active');
    // Continuous batching, from the workers' heartbeats (refreshed every second).
    const generationGauge = (name: string, help: string, pick: (g: GenerationStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const g = (await snapshot())?.states.generation;
          if (g) this.set(pick(g));
          else this.reset();
        },
      });
    generationGauge('gateway_worker_active_sequences', 'Generations decoding on the workers (continuous batching), summed', (g) => g.active);
    generationGauge('gateway_worker_queued_sequences', 'Generations held by workers and waiting for a row, summed', (g) => g.queued);
    generationGauge('gateway_worker_rows_per_step', "Mean rows of the workers' decode steps over their last heartbeat interval", (g) => g.rows_per_step);
    generationGauge('gateway_worker_generations_cancelled', 'Generations cancelled (client gone or timed out), summed over live workers since they started', (g) => g.cancelled);
    new Gauge({
      name: 'gateway_workers',
      help: 'Live workers (by heartbeat), by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const s = await snapshot();
        this.reset();
        if (s) for (const state of ['ready', 'loading', 'error'] as const) this.set({ state }, s.states[state]);
      },
    });
  }

  observeRequest(request: FastifyRequest, statusCode: number, seconds: number): void {
    // The route pattern, never the raw URL: unmatched paths must not create new label values.
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status: String(statusCode) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  observeResult(kind: JobKind, timings: Timings): void {
    for (const stage of ['queue', 'tokenize', 'inference', 'total'] as const) {
      const ms = timings[stage];
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) this.stages.observe({ kind, stage }, ms / 1000);
    }
    const perToken = timings.per_token;
    if (kind !== 'generate' || perToken === undefined || perToken.length === 0) return;
    const ok = (x: number | undefined): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    const [first, ...rest] = perToken;
    if (ok(first)) this.firstToken.observe(((ok(timings.queue) ? timings.queue : 0) + (ok(timings.tokenize) ? timings.tokenize : 0) + first) / 1000);
    for (const gap of rest) if (ok(gap)) this.interToken.observe(gap / 1000);
    const spent = perToken.reduce((a, b) => a + b, 0);
    if (spent > 0) this.tokensPerSecond.observe(perToken.length / (spent / 1000));
  }

  /** Counts every answered request, including streamed ones (hijacked replies) which call this themselves. */
  register(app: FastifyInstance): void {
    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      this.observeRequest(request, reply.statusCode, reply.elapsedTime / 1000);
    });
  }
}
