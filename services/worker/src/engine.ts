/**
 * The worker's model-facing side: predict and compare go through micro-batchers into the one
 * batched function (nextTokenLogits); generate goes through the scheduler (continuous batching of
 * every generation in flight, scheduler.ts) or, with it off, runs on its own through the KV cache. Requests are
 * checked against the context here, so nothing is ever silently cut.
 */
import type { GeneratedToken, Prediction, ScoredToken } from '@gpt2-int8/contract/api';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { everyPositionLogits, type Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { GPT2_VOCAB_SIZE, tokenText } from '@gpt2-int8/runtime/tokenizer';
import { median } from '@gpt2-int8/contract/stats';
import { Batcher } from './batcher.js';
import { ClientError } from './client-error.js';
import { type GenerateParams, type Generation, generate } from './generate.js';
import { GenerationScheduler, type StepReport } from './scheduler.js';
import { supportsBatchDecoding } from '@gpt2-int8/runtime/batch-decoder';
import { DEFAULT_MAX_BATCH_TOKENS, nextTokenLogits } from '@gpt2-int8/runtime/next-token-logits';
import { predictionOf } from './prediction.js';
import { tokenLogprobs } from './token-logprobs.js';
import { TokenProbabilities } from './token-probabilities.js';

export interface EngineOptions {
  maxBatch: number;
  batchWindowMs: number;
  maxBatchTokens?: number;
  /** Continuous batching of generations (scheduler.ts); undefined: each generation runs alone at batch 1. */
  continuousBatching?: { maxActive: number; maxStepTokens: number } | undefined;
  /** Loads the FP32 session for compare; undefined when compare is switched off. */
  loadFp32?: () => Promise<Gpt2Session>;
}

/** A prompt and how many candidates its answer lists. */
interface PromptItem {
  tokens: number[];
  topK: number;
}

/** One prompt's answer from a batched run (the model's time and the batch size are the run's). */
export interface BatchedPrediction {
  prediction: Prediction;
  inferenceMs: number;
  batch: number;
}

/**
 * How many timed runs of each model one compare makes. One run of each is noise: a first run on a
 * fresh session, a scheduling hiccup, a cache the other model just evicted (a single timing said
 * "INT8 is 1.39× slower" on a model the validation report measured 2.66× faster). So the two
 * models run alternately, FP32 first then INT8 first, and each model's time is the median of its runs.
 */
export const COMPARE_RUNS = 5;

export interface Compared {
  /** inference_ms: the median of the model's COMPARE_RUNS runs. */
  int8: Prediction & { inference_ms: number };
  fp32: Prediction & { inference_ms: number };
  same: boolean;
  /** FP32's median ÷ INT8's median. */
  speedup: number;
  batch: number;
  runs: number;
  /** Every run of both models: the model time this compare took. */
  modelMs: number;
  /** Time spent waiting for the FP32 model to load (a worker's first compare); undefined when it was loaded already. */
  loadMs: number | undefined;
}

interface ComparedBatch {
  int8: BatchedPrediction;
  fp32: BatchedPrediction;
  modelMs: number;
  loadMs: number | undefined;
}

export class InferenceEngine {
  private readonly predictBatcher: Batcher<PromptItem, BatchedPrediction>;
  private readonly compareBatcher: Batcher<PromptItem, ComparedBatch>;
  private fp32: Promise<Gpt2Session> | undefined;
  private fp32Ready = false;
  private readonly maxBatchTokens: number;
  private readonly probabilities: Promise<TokenProbabilities>;
  /** Undefined with continuous batching off, or on a graph without present_new.* outputs. */
  readonly scheduler: GenerationScheduler | undefined;
  /** Called after each of the scheduler's decode steps (metrics). */
  onStep: ((step: StepReport) => void) | undefined;

  constructor(
    readonly int8: Gpt2Session,
    private readonly opts: EngineOptions,
  ) {
    this.maxBatchTokens = opts.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    this.probabilities = TokenProbabilities.create(int8.config.vocab_size);
    // Handled where it is awaited; without this a failed creation would be an unhandled rejection.
    this.probabilities.catch(() => undefined);
    const batcher = { maxBatch: opts.maxBatch, windowMs: opts.batchWindowMs };
    this.predictBatcher = new Batcher({ ...batcher, run: (items) => this.predictBatch(this.int8, items) });
    this.compareBatcher = new Batcher({ ...batcher, run: (items) => this.compareBatch(items) });
    const cb = opts.continuousBatching;
    this.scheduler = cb && supportsBatchDecoding(int8) ? new GenerationScheduler(int8, { ...cb, onStep: (s) => this.onStep?.(s) }) : undefined;
  }

  get config(): Gpt2Config {
    return this.int8.config;
  }

  get compareEnabled(): boolean {
    return this.opts.loadFp32 !== undefined;
  }

  /** Refuses an empty prompt, or one longer than the context (never cut silently). */
  checkPrompt(tokens: readonly number[]): void {
    if (tokens.length === 0) throw new ClientError('INVALID_JOB', 'the prompt encodes to no tokens');
    const n = this.config.n_positions;
    if (tokens.length > n) {
      throw new ClientError('PROMPT_TOO_LONG', `the prompt is ${tokens.length} tokens; the model's context is ${n} tokens`);
    }
    // Token ids can come from the client (OpenAI's token-list prompts).
    const vocab = Math.min(this.config.vocab_size, GPT2_VOCAB_SIZE);
    const bad = tokens.find((t) => !(t >= 0 && t < vocab));
    if (bad !== undefined) throw new ClientError('INVALID_JOB', `token id ${bad} is outside the vocabulary (0 to ${vocab - 1})`);
  }

  /** A batch's answers: one model run, then one softmax + top-k run for all its rows. */
  private async predictBatch(session: Gpt2Session, items: PromptItem[]): Promise<BatchedPrediction[]> {
    const started = performance.now();
    const rows = await nextTokenLogits(session, items.map((i) => i.tokens), this.maxBatchTokens);
    return this.answers(rows, items, performance.now() - started);
  }

  private async answers(rows: Float32Array[], items: PromptItem[], inferenceMs: number): Promise<BatchedPrediction[]> {
    const widest = Math.max(...items.map((i) => i.topK));
    const tops = await (await this.probabilities).topK(rows, widest);
    // Each row's top-k is the first k of its top-`widest`: both sorted by probability, ties by id.
    return items.map((item, i) => ({ prediction: predictionOf((tops[i] ?? []).slice(0, item.topK)), inferenceMs, batch: items.length }));
  }

  /**
   * A compare batch: the FP32 model loaded first if need be (timed on its own, not as inference),
   * then COMPARE_RUNS runs of each model on the batch, alternating which goes first; each model's
   * time is the median of its runs, its answer that of its first run (the runs agree: same inputs).
   */
  private async compareBatch(items: PromptItem[]): Promise<ComparedBatch[]> {
    const loadStarted = performance.now();
    const wasReady = this.fp32Ready;
    const fp32 = await this.fp32Session();
    const loadMs = wasReady ? undefined : performance.now() - loadStarted;
    const prompts = items.map((i) => i.tokens);
    const times = { fp32: [] as number[], int8: [] as number[] };
    const first: { fp32?: Float32Array[]; int8?: Float32Array[] } = {};
    for (let run = 0; run < COMPARE_RUNS; run++) {
      for (const name of run % 2 === 0 ? (['fp32', 'int8'] as const) : (['int8', 'fp32'] as const)) {
        const started = performance.now();
        const rows = await nextTokenLogits(name === 'fp32' ? fp32 : this.int8, prompts, this.maxBatchTokens);
        times[name].push(performance.now() - started);
        first[name] ??= rows;
      }
    }
    const modelMs = [...times.fp32, ...times.int8].reduce((a, b) => a + b, 0);
    const fp32Answers = await this.answers(first.fp32 ?? [], items, median(times.fp32));
    const int8Answers = await this.answers(first.int8 ?? [], items, median(times.int8));
    return items.map((_, i) => ({ int8: int8Answers[i] as BatchedPrediction, fp32: fp32Answers[i] as BatchedPrediction, modelMs, loadMs }));
  }

  /** The next token and the top-k of one prompt, batched with whatever else is waiting. */
  async predict(tokens: number[], topK: number): Promise<BatchedPrediction> {
    this.checkPrompt(tokens);
    return this.predictBatcher.submit({ tokens, topK });
  }

  /** The same prompt through FP32 and INT8, timed over COMPARE_RUNS interleaved runs of each (compareBatch). */
  async compare(tokens: number[], topK: number): Promise<Compared> {
    if (!this.compareEnabled) throw new ClientError('COMPARE_DISABLED', 'compare is switched off on this worker (COMPARE_FP32=false)');
    this.checkPrompt(tokens);
    const r = await this.compareBatcher.submit({ tokens, topK });
    const int8 = { ...r.int8.prediction, inference_ms: r.int8.inferenceMs };
    const fp32 = { ...r.fp32.prediction, inference_ms: r.fp32.inferenceMs };
    const speedup = r.int8.inferenceMs > 0 ? r.fp32.inferenceMs / r.int8.inferenceMs : 0;
    return { int8, fp32, same: int8.token_id === fp32.token_id, speedup, batch: r.int8.batch, runs: COMPARE_RUNS, modelMs: r.modelMs, loadMs: r.loadMs };
  }

  /** Stops at the next step with GenerationCancelled once `signal` is aborted. */
  async generate(tokens: number[], params: GenerateParams, onToken?: (e: GeneratedToken) => void, signal?: AbortSignal): Promise<Generation> {
    this.checkPrompt(tokens);
    if (this.scheduler) return this.scheduler.generate(tokens, params, onToken, signal);
    return generate(this.int8, tokens, params, onToken, signal);
  }

  /**
   * The prompt's own tokens, each with its log-probability given the ones before it (the first has
   * none) and the `topN` most likely tokens at its place. Needs every position's logits:
   * everyPositionLogits takes them from one pass when the graph outputs them all (an artifact
   * quantized with `--logits all`), else one KV-cache step per token, so the default graph —
   * and with it predict and generate — stays as fast as it is.
   */
  async score(tokens: number[], topN: number): Promise<{ tokens: ScoredToken[]; inferenceMs: number }> {
    this.checkPrompt(tokens);
    const started = performance.now();
    const all = await everyPositionLogits(this.int8, tokens);
    const inferenceMs = performance.now() - started;
    const V = this.config.vocab_size;
    const usable = Math.min(V, GPT2_VOCAB_SIZE);
    const scored = tokens.map((id, t): ScoredToken => {
      if (t === 0) return { token: tokenText(id), token_id: id, logprob: null, top_logprobs: null };
      const lp = tokenLogprobs(all.subarray((t - 1) * V, (t - 1) * V + usable), id, topN);
      return { token: tokenText(id), token_id: id, ...lp };
    });
    return { tokens: scored, inferenceMs };
  }

  /** The FP32 session, loaded on first use; a failed load is retried by the next compare. */
  fp32Session(): Promise<Gpt2Session> {
    const load = this.opts.loadFp32;
    if (load === undefined) return Promise.reject(new ClientError('COMPARE_DISABLED', 'compare is switched off on this worker (COMPARE_FP32=false)'));
    if (this.fp32 === undefined) {
      this.fp32 = load();
      this.fp32.then(
        () => {
          this.fp32Ready = true;
        },
        () => {
          this.fp32 = undefined;
        },
      );
    }
    return this.fp32;
  }

  get fp32Loaded(): boolean {
    return this.fp32 !== undefined;
  }

  batchSizes(kind: 'predict' | 'compare'): readonly number[] {
    return (kind === 'predict' ? this.predictBatcher : this.compareBatcher).batchSizes;
  }

  async release(): Promise<void> {
    await this.scheduler?.idle();
    const fp32 = this.fp32;
    this.fp32 = undefined;
    this.fp32Ready = false;
    await this.int8.release();
    await (await this.probabilities).release();
    if (fp32) await fp32.then((s) => s.release()).catch(() => {});
  }
}
