/**
 * The jobs behind one /v1 request, and their results: one generate job per choice (prompt-major:
 * choice p·n + i is prompt p's i-th, sampled with seed + i, as OpenAI indexes them), plus one
 * score job per prompt when echo asks for the prompt's log-probabilities (shared/contract/src/job-schema.ts
 * ScoreJob). Every job carries the prompt's token ids, so the worker scores and continues exactly
 * the tokens counted here.
 */
import type { GeneratedToken, GenerateResponse, ScoreResponse } from '@gpt2-int8/contract/api';
import type { GenerateJob, JobData, JobResult, ScoreJob, StreamProgress } from '@gpt2-int8/contract/job';
import { decode, encode, GPT2_VOCAB_SIZE } from './tokenizer.js';
import { invalidRequest } from './openai-error.js';

export interface PromptIn {
  ids: number[];
  text: string;
}

export interface Plan {
  requestId: string;
  prompts: PromptIn[];
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  /** Alternatives listed with each generated token; undefined: no log-probabilities. */
  logprobs: number | undefined;
  /** Score each prompt (echo with logprobs), listing this many alternatives per token. */
  scoreTopK: number | undefined;
  stream: boolean;
}

export interface ChoiceResult {
  index: number;
  prompt: number;
  /** Undefined when max_tokens is 0 (echo only). */
  generation: GenerateResponse | undefined;
}

export type RunJob = (data: JobData, onProgress?: (p: StreamProgress) => void) => Promise<JobResult>;

/**
 * The prompt(s) as sent → token ids and text, checked against the vocabulary and the context.
 * `name` is the request field errors name (chat's prompt is made of its messages).
 */
export function readPrompts(prompt: string | string[] | number[] | number[][], contextLength: number, maxTokens: number, name = 'prompt'): PromptIn[] {
  const list: (string | number[])[] =
    typeof prompt === 'string' ? [prompt] : prompt.length > 0 && typeof prompt[0] === 'number' ? [prompt as number[]] : (prompt as (string | number[])[]);
  return list.map((p, i) => {
    const param = list.length > 1 ? `${name}[${i}]` : name;
    let ids: number[];
    let text: string;
    if (typeof p === 'string') {
      if (p.trim() === '') throw invalidRequest('The prompt must not be empty or only whitespace', param);
      ids = encode(p);
      text = p;
    } else {
      const bad = p.find((id) => id >= GPT2_VOCAB_SIZE);
      if (bad !== undefined) throw invalidRequest(`Token id ${bad} is outside the vocabulary (0 to ${GPT2_VOCAB_SIZE - 1})`, param);
      ids = p;
      text = decode(p);
    }
    if (ids.length + maxTokens > contextLength) {
      throw invalidRequest(
        `This model's maximum context length is ${contextLength} tokens, however you requested ${ids.length + maxTokens} tokens ` +
          `(${ids.length} in the prompt${list.length > 1 ? ` ${i}` : ''}, ${maxTokens} for the completion). Please reduce the prompt or max_tokens.`,
        param,
        'context_length_exceeded',
      );
    }
    return { ids, text };
  });
}

const jobId = (requestId: string, suffix: string) => `${requestId.slice(0, 110)}.${suffix}`;

export function generateJobFor(plan: Plan, p: number, i: number): GenerateJob {
  const prompt = plan.prompts[p] as PromptIn;
  return {
    kind: 'generate',
    request_id: jobId(plan.requestId, `c${p * plan.n + i}`),
    prompt: prompt.text,
    prompt_token_ids: prompt.ids,
    enqueued_at: Date.now(),
    max_new_tokens: plan.maxTokens,
    temperature: plan.temperature,
    top_k: 0,
    top_p: plan.topP,
    seed: plan.seed + i,
    stop: plan.stop,
    stream: plan.stream,
    ...(plan.logprobs !== undefined ? { logprobs: plan.logprobs } : {}),
  };
}

export function scoreJobFor(plan: Plan, p: number): ScoreJob {
  const prompt = plan.prompts[p] as PromptIn;
  return {
    kind: 'score',
    request_id: jobId(plan.requestId, `s${p}`),
    prompt: prompt.text,
    prompt_token_ids: prompt.ids,
    enqueued_at: Date.now(),
    top_logprobs: plan.scoreTopK ?? 0,
  };
}

/** Each prompt's score (when asked for), before any generation starts (a stream echoes them first). */
export async function runScores(plan: Plan, run: RunJob): Promise<(ScoreResponse | undefined)[]> {
  if (plan.scoreTopK === undefined) return plan.prompts.map(() => undefined);
  return Promise.all(plan.prompts.map(async (_, p) => (await run(scoreJobFor(plan, p))) as ScoreResponse));
}

/**
 * Runs every choice's job at once. `onToken` gets each choice's tokens in order, each once: a job
 * retried after a worker died starts again at index 0 with the same seed, and those repeats are
 * dropped (as routes/inference.ts does for /api/generate).
 */
export async function runChoices(plan: Plan, run: RunJob, onToken?: (choice: number, token: GeneratedToken) => void): Promise<ChoiceResult[]> {
  const jobs: Promise<ChoiceResult>[] = [];
  for (let p = 0; p < plan.prompts.length; p++) {
    for (let i = 0; i < plan.n; i++) {
      const index = p * plan.n + i;
      if (plan.maxTokens === 0) {
        jobs.push(Promise.resolve({ index, prompt: p, generation: undefined }));
        continue;
      }
      let next = 0;
      const emit = (t: GeneratedToken) => {
        if (t.index !== next) return;
        next += 1;
        onToken?.(index, t);
      };
      jobs.push(
        run(generateJobFor(plan, p, i), onToken ? emit : undefined).then((r) => {
          const generation = r as GenerateResponse;
          // Tokens whose progress events never arrived.
          for (const t of generation.tokens.slice(next)) emit(t);
          return { index, prompt: p, generation };
        }),
      );
    }
  }
  return Promise.all(jobs);
}

/** The worker's finish reasons in OpenAI's two: the context running out is a length limit too. */
export function finishReason(g: GenerateResponse | undefined): 'stop' | 'length' {
  if (g === undefined) return 'length';
  return g.finish_reason === 'eos' || g.finish_reason === 'stop' ? 'stop' : 'length';
}
