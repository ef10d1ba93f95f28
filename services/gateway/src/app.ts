/**
 * buildApp: the gateway as a Fastify instance, with its Redis connections and queue client, ready
 * to `listen`. main.ts wires it to the process (port, signals); tests use it directly with a real
 * Redis and real HTTP. Closing the app closes its connections.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Logger } from '@gpt2-int8/contract/logger';
import { modelCardKey } from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';
import type { GatewayConfig } from './config.js';
import { docsPlugins } from './docs.js';
import { drainOnClose } from './drain.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandlers, refuseConnect } from './errors.js';
import { JobClient } from './job-client.js';
import { strictJsonBodies } from './json-body.js';
import { lingerOnEarlyAnswers } from './lingering.js';
import { GatewayMetrics } from './metrics.js';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.js';
import { RequestLog } from './request-log.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/model.js';
import { webRoutes } from './routes/web.js';
import { securityPlugins } from './security.js';
import { WorkerGate, readHeartbeats, sumGeneration, summarize } from './workers.js';

export interface AppDeps {
  config: GatewayConfig;
  /** The process logger (shared/logger); omitted in tests that want silence. */
  logger?: Logger;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function buildApp({ config, logger }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: config.bodyLimitBytes,
    // Client ids are kept only when sane (request-id.ts); the same id is on every log line.
    genReqId: requestIdFor,
    requestIdHeader: false,
    // One info line per API request; health checks, static files and arrivals at debug.
    logController: new RequestLog({ requestIdLogLabel: 'request_id' }),
    trustProxy: config.trustProxy,
    // Defence against slow clients (slowloris): headers and body must arrive within
    // CLIENT_TIMEOUT_MS, else 408 and the connection is closed. Node enforces it when it sweeps its
    // connections, every 30 s by default (which would let a slow client hold a socket for twice the
    // limit): every second here. The job wait has its own bound (REQUEST_TIMEOUT_MS).
    requestTimeout: config.clientTimeoutMs,
    http: {
      requestTimeout: config.clientTimeoutMs,
      headersTimeout: config.clientTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.clientTimeoutMs),
    },
    clientErrorHandler,
    // drain.ts answers requests that arrive while closing, in the API's error format.
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler,
  });
  app.server.on('connect', (_req, socket: Duplex) => refuseConnect(socket));
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  installErrorHandlers(app, { bodyLimitBytes: config.bodyLimitBytes });

  // JSON only: Fastify's built-in text/plain parser would let a wrong content type reach the
  // validator as a string (400); without it, anything but JSON is a 415.
  app.removeContentTypeParser('text/plain');
  strictJsonBodies(app);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  drainOnClose(app);
  lingerOnEarlyAnswers(app);

  const log = app.log as Logger;
  const producer = createRedis(config.redisUrl, 'producer');
  const blocking = createRedis(config.redisUrl, 'blocking');
  const subscriber = createRedis(config.redisUrl, 'blocking');
  // ioredis emits 'error' on every failed reconnect; logged once per state change, not per retry.
  let redisDown = false;
  for (const conn of [producer, blocking, subscriber]) {
    conn.on('error', (err: Error) => {
      if (conn === producer && !redisDown) {
        redisDown = true;
        log.error({ err: err.message }, 'Redis connection lost; requests get 503 until it is back');
      }
    });
  }
  producer.on('ready', () => {
    if (redisDown) log.info('Redis connection restored');
    redisDown = false;
  });

  const jobs = await JobClient.create(config.queueName, { producer, blocking, subscriber }, log);
  const workers = new WorkerGate(producer, config.queueName);
  const metrics = new GatewayMetrics({
    queueCounts: async () => {
      const c = await jobs.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
      return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0 };
    },
    workerStates: async () => {
      const heartbeats = await readHeartbeats(producer, config.queueName);
      const { ready, loading, error } = summarize(heartbeats);
      return { ready, loading, error, generation: sumGeneration(heartbeats) };
    },
    inFlight: () => jobs.inFlight,
  });
  metrics.register(app);

  app.addHook('onClose', async () => {
    await jobs.close();
    producer.disconnect();
    blocking.disconnect();
    subscriber.disconnect();
  });

  await securityPlugins(app, { corsOrigins: config.corsOrigins });
  await docsPlugins(app, { version: VERSION });

  await app.register(async (scope) => {
    // The per-client limit guards the model, so it covers /api/* only (not /healthz, /metrics).
    if (config.rateLimitPerMinute > 0) {
      await scope.register(fastifyRateLimit, { max: config.rateLimitPerMinute, timeWindow: 60_000 });
    }
    await scope.register(inferenceRoutes, { jobs, workers, metrics, requestTimeoutMs: config.requestTimeoutMs, queueMaxDepth: config.queueMaxDepth });
    const fleet = { heartbeats: () => readHeartbeats(producer, config.queueName), card: (sha256: string) => producer.get(modelCardKey(config.queueName, sha256)) };
    await scope.register(modelRoutes, { modelDir: config.modelDir, fleet });
  });
  await app.register(healthRoutes, { redis: producer, workers });
  await app.register(metricsRoutes, { metrics });
  await app.register(webRoutes, { webDir: config.webDir });

  // Start reading queue events before the first request, so none of its events can be missed.
  // Bounded: with Redis down at start-up the gateway still comes up (and answers 503) until it is back.
  if (!(await jobs.ready(2000))) log.warn('queue events not connected yet (is Redis up?); requests get 503 until it is');
  return app;
}
