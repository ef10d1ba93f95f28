/**
 * OpenAI's HTTP API beside /api/*: POST /v1/completions, POST /v1/chat/completions, GET /v1/models
 * and /v1/models/{id} (registered under the /v1 prefix), through the same admission, queue and workers. Its own scope, so its errors
 * (and 404s) are in OpenAI's shape (openai-error.ts) while /api/* keeps its own.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { quantizationLabel } from '@gpt2-int8/contract/quantization-label';
import type { GeneratedToken, ScoreResponse, TokenLogprob } from '@gpt2-int8/contract/api';
import type { JobData, JobResult, StreamProgress } from '@gpt2-int8/contract/job';
import type { Admission } from '../admission.js';
import { ApiError, ClientGoneError } from '../errors/api-error.js';
import { allowedMethods, pathOf } from '../errors/route-methods.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Jobs } from '../parts.js';
import { CHAT_STOP, CHAT_TEMPLATE_DESCRIPTION, chatPrompt } from './chat-template.js';
import { finishReason, type Plan, type PromptIn, readPrompts, runChoices, runScores, type RunJob } from './choices.js';
import { invalidRequest, OpenAIError, openAIBody, openAIErrorHandler, toOpenAIError } from './openai-error.js';
import { OpenAISse } from './openai-sse.js';
import {
  type ChatCompletion,
  ChatCompletionRequestSchema,
  ChatCompletionSchema,
  type ChatTokenLogprob,
  type Completion,
  type CompletionLogprobs,
  CompletionRequestSchema,
  CompletionSchema,
  type Model,
  ModelListSchema,
  ModelSchema,
  OpenAIErrorSchema,
} from './schemas.js';
import { type ServedModel, ServedModels } from './served-model.js';
import { textOffsets, tokenBytes } from './tokenizer.js';
import { refuseUnsupported } from './unsupported.js';

export interface OpenAIDeps {
  jobs: Pick<Jobs, 'run'>;
  admission: Pick<Admission, 'admit'>;
  metrics: GatewayMetrics;
  requestTimeoutMs: number;
  modelDir: string;
  bodyLimitBytes: number;
}

const ERRORS = { '4xx': OpenAIErrorSchema, '5xx': OpenAIErrorSchema };
export const MODEL_DESCRIPTION =
  'GPT-2 quantized to INT8 (ONNX Runtime, CPU). A base language model, not a chat model: it continues text. ' +
  '/v1/chat/completions formats the messages as a plain transcript (meta.chat_template) for it to continue.';

/** Whether to stream; stream_options without it is refused, as OpenAI does. */
function streamOf(body: { stream?: boolean | null; stream_options?: unknown }): boolean {
  const stream = body.stream ?? false;
  if (body.stream_options != null && !stream) throw invalidRequest("The 'stream_options' parameter is only allowed when 'stream' is true", 'stream_options');
  return stream;
}

const stopList = (stop: string | string[] | null | undefined): string[] => (stop == null ? [] : typeof stop === 'string' ? [stop] : stop);
const fingerprint = (m: ServedModel) => `fp_${m.manifest.files['model.int8.onnx'].sha256.slice(0, 16)}`;
const newId = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`;

function topMap(list: TokenLogprob[] | null | undefined): Record<string, number> | null {
  if (list == null) return null;
  const m: Record<string, number> = {};
  for (const t of list) if (!(t.token in m)) m[t.token] = t.logprob;
  return m;
}

/** Completions' logprobs for a run of tokens whose text starts at `offset`. */
function generatedLogprobs(tokens: GeneratedToken[], offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const t of tokens) {
    out.tokens.push(t.token);
    out.token_logprobs.push(t.logprob ?? null);
    out.top_logprobs.push(topMap(t.top_logprobs) ?? {});
    out.text_offset.push(at);
    at += t.token.length;
  }
  return out;
}

function promptLogprobs(score: ScoreResponse, prompt: PromptIn): CompletionLogprobs {
  return {
    tokens: score.tokens.map((t) => t.token),
    token_logprobs: score.tokens.map((t) => t.logprob),
    top_logprobs: score.tokens.map((t) => topMap(t.top_logprobs)),
    text_offset: textOffsets(prompt.ids),
  };
}

function concatLogprobs(a: CompletionLogprobs | undefined, b: CompletionLogprobs): CompletionLogprobs {
  if (a === undefined) return b;
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}

/**
 * Chat's logprobs. `bytes` are the token's own bytes, from its id: a token holding part of a
 * character is listed as text such as "<0xE4>" (shared/contract's ListedToken), whose UTF-8 would be
 * the bytes of that label, not of the token.
 */
function chatLogprobs(tokens: GeneratedToken[]): ChatTokenLogprob[] {
  const bytes = (id: number) => [...tokenBytes(id)];
  return tokens.map((t) => ({
    token: t.token,
    logprob: t.logprob ?? 0,
    bytes: bytes(t.token_id),
    top_logprobs: (t.top_logprobs ?? []).map((a) => ({ token: a.token, logprob: a.logprob, bytes: bytes(a.token_id) })),
  }));
}

/** Aborts when the client's connection closes before we answered. */
function disconnectSignal(reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort();
  });
  return controller;
}

export async function openAIRoutes(app: FastifyInstance, deps: OpenAIDeps): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const models = new ServedModels(deps.modelDir);
  api.setErrorHandler(openAIErrorHandler(deps.bodyLimitBytes));
  const allowOf = allowedMethods(app);
  api.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const allow = allowOf(request);
    if (allow !== undefined) {
      void reply.header('allow', allow);
      const e = new OpenAIError(405, `Invalid method for URL (${request.method} ${path.slice(0, 200)}); it takes ${allow}.`, 'invalid_request_error', null, 'method_not_allowed');
      return reply.code(405).send(openAIBody(e));
    }
    const e = new OpenAIError(404, `Unknown request URL: ${request.method} ${path.slice(0, 200)}. This server serves /v1/completions, /v1/chat/completions and /v1/models.`, 'invalid_request_error', null, 'unknown_url');
    return reply.code(404).send(openAIBody(e));
  });

  /** One job, admitted and run as /api/* runs them (routes/inference.ts execute). */
  function runner(request: FastifyRequest, reply: FastifyReply, controller: AbortController): RunJob {
    // A client that leaves fails every job of the request: it is one request that ended in 499.
    let goneCounted = false;
    return async (data: JobData, onProgress?: (p: StreamProgress) => void): Promise<JobResult> => {
      await deps.admission.admit();
      try {
        const result = await deps.jobs.run(data, { timeoutMs: deps.requestTimeoutMs, signal: controller.signal, onProgress });
        if (result === null || typeof result !== 'object' || result.kind !== data.kind) {
          throw new ApiError(502, 'WORKER_FAILED', 'The model worker returned an unexpected result; try again');
        }
        deps.metrics.observeResult(data.kind, result.timings_ms);
        return result;
      } catch (err) {
        // The request has failed: jobs of its other choices still waiting are removed.
        if (!(err instanceof ClientGoneError)) controller.abort();
        else if (!goneCounted) {
          goneCounted = true;
          deps.metrics.observeRequest(request, 499, reply.elapsedTime / 1000);
        }
        throw err;
      }
    };
  }

  function modelObject(m: ServedModel): Model {
    return {
      id: m.id,
      object: 'model',
      created: m.created,
      owned_by: 'gpt2-int8',
      meta: {
        description: MODEL_DESCRIPTION,
        chat_template: CHAT_TEMPLATE_DESCRIPTION,
        context_length: m.manifest.config.n_positions,
        quantization: quantizationLabel(m.manifest.quantization),
        synthetic: m.manifest.synthetic,
        sha256: m.manifest.files['model.int8.onnx'].sha256,
      },
    };
  }

  api.get(
    '/models',
    { schema: { tags: ['openai'], summary: 'The served model (OpenAI-compatible list)', description: MODEL_DESCRIPTION, response: { 200: ModelListSchema, ...ERRORS } } },
    async () => ({ object: 'list' as const, data: [modelObject(await models.current())] }),
  );
  api.get(
    '/models/:model',
    { schema: { tags: ['openai'], summary: 'One model; 404 model_not_found for any other id', response: { 200: ModelSchema, ...ERRORS } } },
    async (request) => modelObject(await models.named((request.params as { model: string }).model, null)),
  );

  /** A streamed answer: chunks as they come, then [DONE]; errors before the first chunk as plain HTTP errors. */
  async function streamed(request: FastifyRequest, reply: FastifyReply, work: (sse: OpenAISse) => Promise<void>): Promise<void> {
    const sse = new OpenAISse(reply.raw, reply.getHeaders() as OutgoingHttpHeaders);
    reply.hijack();
    try {
      await work(sse);
      sse.done();
    } catch (err) {
      if (err instanceof ClientGoneError) {
        request.log.info('client disconnected during a streamed completion; its jobs were cancelled');
      } else {
        const e = toOpenAIError(err, request, deps.bodyLimitBytes);
        if (e.statusCode >= 500) request.log.warn({ code: e.code }, e.message);
        if (sse.started) sse.chunk(openAIBody(e));
        else sse.fail(e.statusCode, openAIBody(e), e.retryAfter);
      }
    } finally {
      sse.end();
    }
  }

  const usageOf = (prompts: PromptIn[], completionTokens: number) => {
    const prompt = prompts.reduce((n, p) => n + p.ids.length, 0);
    return { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens };
  };

  api.post(
    '/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible text completion (also prompt scoring: echo, logprobs, max_tokens 0)',
        description:
          'As OpenAI\'s legacy completions. n > 1 runs one job per choice with seed, seed+1, …; a list of prompts runs one job per prompt × n, ' +
          'choices indexed prompt-major. `echo: true, logprobs: k, max_tokens: 0` scores the prompt\'s own tokens (the first has no log-probability). ' +
          'Log-probabilities are of the model\'s distribution before temperature and top_p; top_logprobs lists the k most likely tokens. ' +
          'Refused (400, naming the parameter): suffix, best_of other than n, non-zero penalties, logit_bias, stream_options without stream, unknown fields.',
        body: CompletionRequestSchema,
        response: { 200: { description: 'The completion (JSON), or `data:` chunks of it (stream: true)', content: { 'application/json': { schema: CompletionSchema } } }, ...ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const n = body.n ?? 1;
      // OpenAI's rule (best_of candidates, n of them returned); refused before best_of is unsupported.
      if (body.best_of != null && body.best_of < n) throw invalidRequest(`best_of must be greater than or equal to n (best_of ${body.best_of}, n ${n})`, 'best_of');
      refuseUnsupported(body as Record<string, unknown>);
      const model = await models.named(body.model);
      const echo = body.echo ?? false;
      const maxTokens = body.max_tokens ?? 16;
      if (maxTokens === 0 && !echo) throw invalidRequest('max_tokens must be at least 1 (0 is allowed only with echo: true, to score the prompt)', 'max_tokens');
      const logprobs = body.logprobs ?? undefined;
      const prompts = readPrompts(body.prompt, model.manifest.config.n_positions, maxTokens);
      if (prompts.length * n > 16) throw invalidRequest(`At most 16 choices per request (prompts × n); this asks for ${prompts.length * n}`, 'n');
      const stream = streamOf(body);
      const plan: Plan = {
        requestId: request.id,
        prompts,
        n,
        maxTokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        seed: body.seed ?? randomInt(0, 2 ** 30),
        stop: stopList(body.stop),
        logprobs,
        scoreTopK: echo && logprobs !== undefined ? logprobs : undefined,
        stream,
      };
      const id = newId('cmpl');
      const created = Math.floor(Date.now() / 1000);
      const head = { id, object: 'text_completion' as const, created, model: model.id, system_fingerprint: fingerprint(model) };
      const controller = disconnectSignal(reply);
      const run = runner(request, reply, controller);

      if (!stream) {
        const [scores, results] = await Promise.all([runScores(plan, run), runChoices(plan, run)]);
        let completionTokens = 0;
        const choices = results.map((c): Completion['choices'][number] => {
          const prompt = prompts[c.prompt] as PromptIn;
          const g = c.generation;
          completionTokens += g?.tokens.length ?? 0;
          const prefix = echo ? prompt.text : '';
          let lp: CompletionLogprobs | undefined;
          if (logprobs !== undefined) {
            const score = scores[c.prompt];
            lp = concatLogprobs(score ? promptLogprobs(score, prompt) : undefined, generatedLogprobs(g?.tokens ?? [], prefix.length));
          }
          return { text: prefix + (g?.text ?? ''), index: c.index, logprobs: lp ?? null, finish_reason: finishReason(g) };
        });
        return { ...head, choices, usage: usageOf(prompts, completionTokens) } satisfies Completion;
      }

      await streamed(request, reply, async (sse) => {
        const scores = await runScores(plan, run);
        // Echo first: each choice's prompt (with its scores) before any of its tokens.
        const offset: number[] = [];
        for (let p = 0; p < prompts.length; p++) {
          for (let i = 0; i < n; i++) {
            const index = p * n + i;
            const prompt = prompts[p] as PromptIn;
            offset[index] = echo ? prompt.text.length : 0;
            if (!echo) continue;
            const score = scores[p];
            sse.chunk({ ...head, choices: [{ text: prompt.text, index, logprobs: logprobs !== undefined && score ? promptLogprobs(score, prompt) : null, finish_reason: null }] });
          }
        }
        let completionTokens = 0;
        const results = await runChoices(plan, run, (index, t) => {
          completionTokens += 1;
          const lp = logprobs !== undefined ? generatedLogprobs([t], offset[index] ?? 0) : null;
          offset[index] = (offset[index] ?? 0) + t.token.length;
          sse.chunk({ ...head, choices: [{ text: t.token, index, logprobs: lp, finish_reason: null }] });
        });
        for (const c of results) sse.chunk({ ...head, choices: [{ text: '', index: c.index, logprobs: null, finish_reason: finishReason(c.generation) }] });
        if (body.stream_options?.include_usage) sse.chunk({ ...head, choices: [], usage: usageOf(prompts, completionTokens) });
      });
      return reply;
    },
  );

  api.post(
    '/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible chat completion, over a plain-text template (GPT-2 is not a chat model)',
        description: `${MODEL_DESCRIPTION} Template: ${CHAT_TEMPLATE_DESCRIPTION} n > 1: one job per choice, seeds seed, seed+1, …`,
        body: ChatCompletionRequestSchema,
        response: { 200: { description: 'The chat completion (JSON), or `data:` chunks (stream: true)', content: { 'application/json': { schema: ChatCompletionSchema } } }, ...ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body;
      refuseUnsupported(body as Record<string, unknown>);
      const model = await models.named(body.model);
      if (body.top_logprobs != null && body.logprobs !== true) throw invalidRequest('top_logprobs requires logprobs: true', 'top_logprobs');
      const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? 16;
      const text = chatPrompt(body.messages);
      const prompts = readPrompts(text, model.manifest.config.n_positions, maxTokens, 'messages').map((p) => ({ ...p, text }));
      const n = body.n ?? 1;
      const stream = streamOf(body);
      const logprobs = body.logprobs === true ? (body.top_logprobs ?? 0) : undefined;
      const plan: Plan = {
        requestId: request.id,
        prompts,
        n,
        maxTokens,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        seed: body.seed ?? randomInt(0, 2 ** 30),
        stop: [...stopList(body.stop), CHAT_STOP],
        logprobs,
        scoreTopK: undefined,
        stream,
      };
      const id = newId('chatcmpl');
      const created = Math.floor(Date.now() / 1000);
      const controller = disconnectSignal(reply);
      const run = runner(request, reply, controller);

      if (!stream) {
        const results = await runChoices(plan, run);
        const choices = results.map((c): ChatCompletion['choices'][number] => {
          const g = c.generation;
          return {
            index: c.index,
            message: { role: 'assistant', content: g?.text ?? '', refusal: null },
            logprobs: logprobs !== undefined ? { content: chatLogprobs(g?.tokens ?? []), refusal: null } : null,
            finish_reason: finishReason(g),
          };
        });
        const completionTokens = results.reduce((s, c) => s + (c.generation?.tokens.length ?? 0), 0);
        return { id, object: 'chat.completion' as const, created, model: model.id, system_fingerprint: fingerprint(model), choices, usage: usageOf(prompts, completionTokens) } satisfies ChatCompletion;
      }

      const head = { id, object: 'chat.completion.chunk' as const, created, model: model.id, system_fingerprint: fingerprint(model) };
      await streamed(request, reply, async (sse) => {
        const withRole = new Set<number>();
        const delta = (index: number, content: string) => {
          if (withRole.has(index)) return { content };
          withRole.add(index);
          return { role: 'assistant' as const, content };
        };
        let completionTokens = 0;
        const results = await runChoices(plan, run, (index, t) => {
          completionTokens += 1;
          const lp = logprobs !== undefined ? { content: chatLogprobs([t]), refusal: null } : null;
          sse.chunk({ ...head, choices: [{ index, delta: delta(index, t.token), logprobs: lp, finish_reason: null }] });
        });
        for (const c of results) {
          sse.chunk({ ...head, choices: [{ index: c.index, delta: withRole.has(c.index) ? {} : delta(c.index, ''), logprobs: null, finish_reason: finishReason(c.generation) }] });
        }
        if (body.stream_options?.include_usage) sse.chunk({ ...head, choices: [], usage: usageOf(prompts, completionTokens) });
      });
      return reply;
    },
  );
}
