/**
 * The worker's model-facing side: predict and compare go through micro-batchers into the one
 * batched function (nextTokenLogits); generate runs on its own through the KV cache. Requests are
 * checked against the context here, so nothing is ever silently cut.
 */
import type { GeneratedToken, Prediction } from '@gpt2-int8/shared/api';
import type { Gpt2Config } from '@gpt2-int8/shared/gpt2-config';
import type { Gpt2Session } from '@gpt2-int8/shared/gpt2-session';
import { Batcher } from './batcher.js';
import { ClientError } from './client-error.js';
import { type GenerateParams, type Generation, generate } from './generate.js';
import { DEFAULT_MAX_BATCH_TOKENS, nextTokenLogits } from './next-token-logits.js';
import { predictionOf } from './prediction.js';
import { TokenProbabilities } from './token-probabilities.js';

export interface EngineOptions {
  maxBatch: number;
  batchWindowMs: number;
  maxBatchTokens?: number;
  /** Loads the FP32 session for compare; undefined when compare is switched off. */
  loadFp32?: () => Promise<Gpt2Session>;
}

/** Logits of one prompt from a batched run, with the run's time and size. */
export interface BatchedLogits {
  logits: Float32Array;
  ms: number;
  batch: number;
}

export interface Compared {
  int8: Prediction & { inference_ms: number };
  fp32: Prediction & { inference_ms: number };
  same: boolean;
  speedup: number;
  batch: number;
}

export class InferenceEngine {
  private readonly predictBatcher: Batcher<number[], BatchedLogits>;
  private readonly compareBatcher: Batcher<number[], { int8: BatchedLogits; fp32: BatchedLogits }>;
  private fp32: Promise<Gpt2Session> | undefined;
  private readonly maxBatchTokens: number;
  private readonly probabilities: Promise<TokenProbabilities>;

  constructor(
    readonly int8: Gpt2Session,
    private readonly opts: EngineOptions,
  ) {
    this.maxBatchTokens = opts.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    this.probabilities = TokenProbabilities.create(int8.config.vocab_size);
    // Handled where it is awaited; without this a failed creation would be an unhandled rejection.
    this.probabilities.catch(() => undefined);
    const batcher = { maxBatch: opts.maxBatch, windowMs: opts.batchWindowMs };
    this.predictBatcher = new Batcher({ ...batcher, run: (prompts) => this.timed(this.int8, prompts) });
    this.compareBatcher = new Batcher({
      ...batcher,
      run: async (prompts) => {
        const fp32 = await this.timed(await this.fp32Session(), prompts);
        const int8 = await this.timed(this.int8, prompts);
        return prompts.map((_, i) => ({ int8: int8[i] as BatchedLogits, fp32: fp32[i] as BatchedLogits }));
      },
    });
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
  }

  /** Runs a batch of prompts as one inference (the batcher's run function). */
  async logitsBatch(session: Gpt2Session, prompts: number[][]): Promise<Float32Array[]> {
    return nextTokenLogits(session, prompts, this.maxBatchTokens);
  }

  private async timed(session: Gpt2Session, prompts: number[][]): Promise<BatchedLogits[]> {
    const started = performance.now();
    const all = await this.logitsBatch(session, prompts);
    const ms = performance.now() - started;
    return all.map((logits) => ({ logits, ms, batch: prompts.length }));
  }

  /** Next-token logits of one prompt, batched with whatever else is waiting. */
  async predictLogits(tokens: number[]): Promise<BatchedLogits> {
    this.checkPrompt(tokens);
    return this.predictBatcher.submit(tokens);
  }

  async predict(tokens: number[], topK: number): Promise<{ prediction: Prediction; inferenceMs: number; batch: number }> {
    const r = await this.predictLogits(tokens);
    const [top] = await (await this.probabilities).topK([r.logits], topK);
    return { prediction: predictionOf(top ?? []), inferenceMs: r.ms, batch: r.batch };
  }

  /** The same prompt through FP32 and INT8 (each batch runs FP32 then INT8 on the same prompts). */
  async compare(tokens: number[], topK: number): Promise<Compared> {
    if (!this.compareEnabled) throw new ClientError('COMPARE_DISABLED', 'compare is switched off on this worker (COMPARE_FP32=false)');
    this.checkPrompt(tokens);
    const r = await this.compareBatcher.submit(tokens);
    const [int8Top, fp32Top] = await (await this.probabilities).topK([r.int8.logits, r.fp32.logits], topK);
    const int8 = { ...predictionOf(int8Top ?? []), inference_ms: r.int8.ms };
    const fp32 = { ...predictionOf(fp32Top ?? []), inference_ms: r.fp32.ms };
    return { int8, fp32, same: int8.token_id === fp32.token_id, speedup: r.int8.ms > 0 ? r.fp32.ms / r.int8.ms : 0, batch: r.int8.batch };
  }

  async generate(tokens: number[], params: GenerateParams, onToken?: (e: GeneratedToken) => void): Promise<Generation> {
    this.checkPrompt(tokens);
    return generate(this.int8, tokens, params, onToken);
  }

  /** The FP32 session, loaded on first use; a failed load is retried by the next compare. */
  fp32Session(): Promise<Gpt2Session> {
    const load = this.opts.loadFp32;
    if (load === undefined) return Promise.reject(new ClientError('COMPARE_DISABLED', 'compare is switched off on this worker (COMPARE_FP32=false)'));
    if (this.fp32 === undefined) {
      this.fp32 = load();
      this.fp32.catch(() => {
        this.fp32 = undefined;
      });
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
    const fp32 = this.fp32;
    this.fp32 = undefined;
    await this.int8.release();
    await (await this.probabilities).release();
    if (fp32) await fp32.then((s) => s.release()).catch(() => {});
  }
}
