/**
 * buildApp: the gateway as a Fastify instance, ready to `listen`, built from its parts (parts.ts):
 * the job queue and the workers' reports. main.ts hands in the Redis-backed parts
 * (queue/redis-parts.ts) and wires the app to the process (port, signals); tests hand in in-memory
 * parts and use `inject`, or the Redis-backed ones and real HTTP. Closing the app closes its parts.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Logger } from '@gpt2-int8/contract/logger';
import { Admission } from './admission.js';
import { apiKeyCheck, bearerKey, keyId, keyMatcher } from './api-keys.js';
import type { GatewayConfig } from './config.js';
import { docsPlugins } from './docs.js';
import { drainOnClose } from './drain.js';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandlers } from './errors/error-handlers.js';
import { refuseConnect } from './errors/raw-socket.js';
import { strictJsonBodies } from './json-body.js';
import { lingerOnEarlyAnswers } from './lingering.js';
import { GatewayMetrics } from './metrics.js';
import type { Jobs, Workers } from './parts.js';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.js';
import { RequestLog } from './request-log.js';
import { healthRoutes } from './routes/health.js';
import { inferenceRoutes } from './routes/inference.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelRoutes } from './routes/model.js';
import { openAIRoutes } from './openai/routes.js';
import { webRoutes } from './routes/web.js';
import { securityPlugins } from './security.js';

export interface AppDeps {
  config: GatewayConfig;
  jobs: Jobs;
  workers: Workers;
  /** The process logger (shared/logger); omitted in tests that want silence. */
  logger?: Logger;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export async function buildApp({ config, jobs, workers, logger }: AppDeps): Promise<FastifyInstance> {
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

  const metrics = new GatewayMetrics(jobs, workers);
  metrics.register(app);
  app.addHook('onClose', async () => jobs.close());

  await securityPlugins(app, { corsOrigins: config.corsOrigins });
  await docsPlugins(app, { version: VERSION });

  await app.register(async (scope) => {
    // The per-client limit guards the model, so it covers /api/* and /v1/* only (not /healthz, /metrics).
    // With API keys it counts per key, and runs before the key check (api-keys.ts): a request
    // without a known key counts against its address, so guessing keys is limited too (each wrong
    // key had a fresh allowance, and the check came first).
    const keysOn = config.apiKeys.length > 0;
    if (config.rateLimitPerMinute > 0) {
      const known = keyMatcher(config.apiKeys);
      await scope.register(fastifyRateLimit, {
        max: config.rateLimitPerMinute,
        timeWindow: 60_000,
        ...(keysOn
          ? {
              keyGenerator: (request) => {
                const key = bearerKey(request);
                return key !== undefined && known(key) ? `key:${keyId(key)}` : `ip:${request.ip}`;
              },
            }
          : {}),
      });
    }
    if (keysOn) {
      // The OpenAPI document says which routes need the key (docs.ts defines the scheme), so
      // Swagger UI's "Try it out" sends it.
      scope.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ apiKey: [] }] };
      });
      // preParsing: after the limit's own hook (route-level onRequest, which runs after a scope's
      // onRequest) and before a body is read.
      const check = apiKeyCheck(config.apiKeys);
      scope.addHook('preParsing', async (request, reply, payload) => {
        await check(request, reply);
        return payload;
      });
    }
    const admission = new Admission(jobs, workers, config.queueMaxDepth);
    await scope.register(inferenceRoutes, { jobs, admission, metrics, requestTimeoutMs: config.requestTimeoutMs });
    await scope.register(modelRoutes, { modelDir: config.modelDir, workers });
    // OpenAI's API (openai/routes.ts), through the same admission, queue and limit; under its
    // prefix so that its errors and 404s take OpenAI's shape.
    await scope.register(openAIRoutes, {
      prefix: '/v1',
      jobs,
      admission,
      metrics,
      requestTimeoutMs: config.requestTimeoutMs,
      modelDir: config.modelDir,
      bodyLimitBytes: config.bodyLimitBytes,
    });
  });
  await app.register(healthRoutes, { jobs, workers });
  await app.register(metricsRoutes, { metrics });
  await app.register(webRoutes, { webDir: config.webDir });
  return app;
}
