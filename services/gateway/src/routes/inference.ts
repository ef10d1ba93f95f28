/**
 * POST /api/predict, /api/generate (JSON or Server-Sent Events), /api/compare: validate (the
 * TypeBox schemas from shared, which also document the API at /docs), admit (admission.ts), enqueue,
 * wait, answer.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  CompareRequestSchema,
  CompareResponseSchema,
  ErrorSchema,
  GenerateRequestSchema,
  GenerateResponseSchema,
  PredictRequestSchema,
  PredictResponseSchema,
  StreamTokenSchema,
  type StreamToken,
  type Timings,
  type CompareResponse,
  type GenerateResponse,
  type PredictResponse,
} from '@gpt2-int8/contract/api';
import type { JobData, JobResult, StreamProgress } from '@gpt2-int8/contract/job';
import type { Admission } from '../admission.js';
import { ApiError, ClientGoneError, errorBody } from '../errors/api-error.js';
import { compareJob, generateJob, predictJob } from '../job-data.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Jobs } from '../parts.js';
import { SseStream } from '../sse.js';

export interface InferenceDeps {
  jobs: Pick<Jobs, 'run'>;
  admission: Pick<Admission, 'admit'>;
  metrics: GatewayMetrics;
  requestTimeoutMs: number;
}

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema };

/** Aborts when the client's connection closes before we answered. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort();
  });
  return controller.signal;
}

/**
 * Milliseconds as answered: to 0.01 ms. The worker sends what it measured and the gateway adds its
 * total; both are rounded here, once, where they leave (not "total":34.82111499999883), so no
 * figure is rounded twice. Metrics take the unrounded values.
 */
export const roundMs = (ms: number): number => Math.round(ms * 100) / 100;

function roundedTimings(t: Timings): Timings {
  return {
    queue: roundMs(t.queue),
    tokenize: roundMs(t.tokenize),
    inference: roundMs(t.inference),
    ...(t.per_token ? { per_token: t.per_token.map(roundMs) } : {}),
    ...(t.load !== undefined ? { load: roundMs(t.load) } : {}),
    total: roundMs(t.total),
  };
}

export function roundedForClient<R extends JobResult>(r: R): R {
  const out = { ...r, timings_ms: roundedTimings(r.timings_ms) };
  if (out.kind !== 'compare') return out;
  const int8 = roundMs(out.int8.inference_ms);
  const fp32 = roundMs(out.fp32.inference_ms);
  return {
    ...out,
    int8: { ...out.int8, inference_ms: int8 },
    fp32: { ...out.fp32, inference_ms: fp32 },
    // The ratio of the two times as answered (so a client dividing them gets the same figure), to
    // three decimals.
    speedup: Math.round((int8 > 0 ? fp32 / int8 : out.speedup) * 1000) / 1000,
  };
}

export async function inferenceRoutes(app: FastifyInstance, deps: InferenceDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  async function execute<K extends JobData['kind']>(
    data: JobData & { kind: K },
    request: FastifyRequest,
    reply: FastifyReply,
    onProgress?: (p: StreamProgress) => void,
  ): Promise<Extract<JobResult, { kind: K }>> {
    // Listening from the start: a client that leaves while admission waits on Redis is noticed too.
    const signal = disconnectSignal(reply);
    await deps.admission.admit();
    let result: JobResult;
    try {
      result = await deps.jobs.run(data, { timeoutMs: deps.requestTimeoutMs, signal, onProgress });
    } catch (err) {
      // The response never finishes, so Fastify's onResponse hook won't count it: count it here,
      // under nginx's "client closed request" status.
      if (err instanceof ClientGoneError) deps.metrics.observeRequest(request, 499, reply.elapsedTime / 1000);
      throw err;
    }
    if (result === null || typeof result !== 'object' || result.kind !== data.kind) {
      throw new ApiError(502, 'WORKER_FAILED', 'The model worker returned an unexpected result; try again');
    }
    const typed = result as Extract<JobResult, { kind: K }>;
    // The client's view of the whole wait: measured here, not by the worker.
    typed.timings_ms = { ...typed.timings_ms, total: reply.elapsedTime };
    deps.metrics.observeResult(data.kind, typed.timings_ms);
    return roundedForClient(typed);
  }

  /** The API response: the job result without its routing field. */
  function body<T extends { kind: string }>(result: T): Omit<T, 'kind'> {
    const { kind: _kind, ...rest } = result;
    return rest;
  }

  api.post(
    '/api/predict',
    {
      schema: {
        tags: ['inference'],
        summary: 'The most likely next token and the top-k candidates (INT8 model)',
        body: PredictRequestSchema,
        response: { 200: PredictResponseSchema, ...ERRORS },
      },
    },
    async (request, reply): Promise<PredictResponse> => body(await execute(predictJob(request.body, request.id), request, reply)),
  );

  api.post(
    '/api/compare',
    {
      schema: {
        tags: ['inference'],
        summary: 'The same prompt through the FP32 and the INT8 models, side by side',
        body: CompareRequestSchema,
        response: { 200: CompareResponseSchema, ...ERRORS },
      },
    },
    async (request, reply): Promise<CompareResponse> => body(await execute(compareJob(request.body, request.id), request, reply)),
  );

  api.post(
    '/api/generate',
    {
      schema: {
        tags: ['inference'],
        summary: 'Generate a continuation; with stream:true, Server-Sent Events (token…, then done or error)',
        description:
          'With `stream: true` the answer is `text/event-stream`: one `event: token` per token (data: {index, token, token_id, logprob and top_logprobs when asked for, text}), ' +
          'then `event: done` (data: the JSON response below), or `event: error` (data: the error body) if it fails after streaming began. ' +
          'A failure before the first token is answered as a plain JSON error with its HTTP status.',
        body: GenerateRequestSchema,
        response: {
          200: {
            description: 'The generation (JSON), or its event stream (stream: true)',
            content: {
              'application/json': { schema: GenerateResponseSchema },
              'text/event-stream': { schema: StreamTokenSchema },
            },
          },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const data = generateJob(request.body, request.id);
      if (!data.stream) return body(await execute(data, request, reply)) satisfies GenerateResponse;
      await streamGenerate(request, reply, data);
      return reply;
    },
  );

  async function streamGenerate(request: FastifyRequest, reply: FastifyReply, data: ReturnType<typeof generateJob>): Promise<void> {
    // Fastify's headers so far (request id, security headers) go out with the stream's.
    const sse = new SseStream(reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
    reply.hijack();
    let text = '';
    let next = 0;
    const emit = (t: StreamProgress) => {
      // In order, each index once: a job retried after a worker died starts again at 0 (same
      // seed, same tokens), and those repeats are dropped.
      if (t.index !== next) return;
      next += 1;
      text += t.token;
      // Every field the worker sent (logprob and top_logprobs when asked for), plus the text so far.
      sse.send('token', { ...t, text } satisfies StreamToken);
    };
    try {
      const result = await execute(data, request, reply, emit);
      // Tokens whose progress events never arrived (or a worker that does not publish them).
      for (const t of result.tokens.slice(next)) emit(t);
      sse.send('done', body(result));
    } catch (err) {
      if (err instanceof ClientGoneError) {
        request.log.info('client disconnected during a streamed generation');
      } else {
        const apiError =
          err instanceof ApiError ? err : new ApiError(500, 'INTERNAL', `Internal error; quote request id ${request.id} when reporting it`);
        if (!(err instanceof ApiError)) request.log.error({ err }, 'unexpected error while streaming');
        if (sse.started) {
          sse.send('error', errorBody(apiError.code, apiError.message));
        } else if (sse.writable) {
          reply.raw.writeHead(apiError.statusCode, {
            ...(reply.getHeaders() as OutgoingHttpHeaders),
            'content-type': 'application/json; charset=utf-8',
            ...(apiError.retryAfter !== undefined ? { 'retry-after': String(apiError.retryAfter) } : {}),
          });
          reply.raw.write(JSON.stringify(errorBody(apiError.code, apiError.message)));
        }
      }
    } finally {
      // Ending the response fires Fastify's onResponse hook (metrics, the request log line) even
      // though the reply was hijacked.
      sse.end();
    }
  }
}
