/**
 * A validated API request → the job the worker runs, with every default filled in here, once, so
 * the worker never guesses (shared/contract/src/job.ts). Generate gets a seed even when the client sent none:
 * a job retried after a worker died then produces the same tokens, so a stream that already
 * showed some of them continues consistently.
 */
import { randomInt } from 'node:crypto';
import { LIMITS, type CompareRequest, type GenerateRequest, type PredictRequest } from '@gpt2-int8/contract/api';
import type { CompareJob, GenerateJob, PredictJob } from '@gpt2-int8/contract/job';

export function predictJob(body: PredictRequest, requestId: string): PredictJob {
  return { kind: 'predict', request_id: requestId, prompt: body.prompt, enqueued_at: Date.now(), top_k: body.top_k ?? LIMITS.topK.default };
}

export function compareJob(body: CompareRequest, requestId: string): CompareJob {
  return { kind: 'compare', request_id: requestId, prompt: body.prompt, enqueued_at: Date.now(), top_k: body.top_k ?? LIMITS.topK.default };
}

export function generateJob(body: GenerateRequest, requestId: string): GenerateJob {
  return {
    kind: 'generate',
    request_id: requestId,
    prompt: body.prompt,
    enqueued_at: Date.now(),
    max_new_tokens: body.max_new_tokens ?? LIMITS.maxNewTokens.default,
    temperature: body.temperature ?? LIMITS.temperature.default,
    top_k: body.top_k ?? 0,
    top_p: body.top_p ?? 1,
    seed: body.seed ?? randomInt(0, 2 ** 31 - 1),
    stop: body.stop ?? [],
    stream: body.stream ?? false,
    ...(body.logprobs !== undefined ? { logprobs: body.logprobs } : {}),
  };
}
