/**
 * Continuous batching: one scheduler per worker holds every generation in flight and advances them
 * together, one ONNX Runtime call per step for all decoding sequences (BatchDecoder). Sequences
 * join and leave between steps. A new prompt is run first, in chunks of PROMPT_CHUNK tokens
 * (shared/runtime/src/prefill.ts), at most MAX_STEP_TOKENS prompt tokens between two decode steps
 * (so a long prompt delays the others' next token by about that many tokens' work). Each sequence chooses its own tokens (GenerationRun:
 * sampling, stop strings, log-probabilities), and computes exactly what it would alone.
 *
 * A generation whose signal is aborted (its client went away) leaves at the next step and frees
 * its row, rejecting with GenerationCancelled.
 */
import type { GeneratedToken } from '@gpt2-int8/contract/api';
import { BatchDecoder, type DecodingRow } from '@gpt2-int8/runtime/batch-decoder';
import { Prefill } from '@gpt2-int8/runtime/prefill';
import type { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { type GenerateParams, type Generation, GenerationCancelled, GenerationRun } from './generate.js';

export interface SchedulerOptions {
  /** Most sequences decoding at once; more wait (in arrival order) for a row. */
  maxActive: number;
  /** Most tokens in one step: decode rows plus prompt tokens (at least one prompt chunk). */
  maxStepTokens: number;
  /** Called after every decode step. */
  onStep?: (step: StepReport) => void;
}

export interface StepReport {
  /** Sequences in this decode step. */
  rows: number;
  /** Prompt tokens run since the previous decode step. */
  promptTokens: number;
  /** The decode call's time. */
  ms: number;
}

interface Sequence {
  run: GenerationRun;
  prefill: Prefill;
  row?: DecodingRow;
  /** The token to feed at the next step. */
  next?: number;
  signal: AbortSignal | undefined;
  resolve: (g: Generation) => void;
  reject: (err: unknown) => void;
}

export class GenerationScheduler {
  private readonly decoder: BatchDecoder;
  /** Prompts not yet (fully) run, in arrival order. */
  private readonly waiting: Sequence[] = [];
  private readonly decoding: Sequence[] = [];
  private loop: Promise<void> | undefined;
  /** Rows of each decode step (for the stats and tests). */
  readonly stepRows: number[] = [];

  constructor(
    private readonly session: Gpt2Session,
    private readonly opts: SchedulerOptions,
  ) {
    this.decoder = new BatchDecoder(session);
  }

  /** Sequences decoding now. */
  get active(): number {
    return this.decoding.length;
  }

  get queued(): number {
    return this.waiting.length;
  }

  generate(prompt: readonly number[], params: GenerateParams, onToken?: (e: GeneratedToken) => void, signal?: AbortSignal): Promise<Generation> {
    if (signal?.aborted) return Promise.reject(new GenerationCancelled(0));
    return new Promise<Generation>((resolve, reject) => {
      this.waiting.push({ run: new GenerationRun(this.session.config, params, onToken), prefill: new Prefill(this.session, prompt), signal, resolve, reject });
      this.kick();
    });
  }

  /**
   * Starts the loop unless it runs. The loop ends once nothing is in flight, but its end is seen a
   * few microtasks later: a generation submitted in between (a client's next request, sent as its
   * previous one resolved) is picked up by starting the loop again.
   */
  private kick(): void {
    if (this.loop) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = undefined;
      if (this.waiting.length > 0 || this.decoding.length > 0) this.kick();
    });
  }

  /** Resolves once nothing is in flight. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private async runLoop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.decoding.length > 0) {
        this.dropCancelled();
        const promptTokens = await this.runPrompts();
        this.dropCancelled();
        if (this.decoding.length === 0) continue;
        const started = performance.now();
        const rows = [...this.decoding].sort((a, b) => (a.row as DecodingRow).row - (b.row as DecodingRow).row);
        const logits = await this.decoder.step(rows.map((s) => s.next as number));
        const ms = performance.now() - started;
        this.stepRows.push(rows.length);
        if (this.stepRows.length > 10_000) this.stepRows.splice(0, 5_000);
        rows.forEach((s, r) => this.take(s, logits[r] as Float32Array, (s.row as DecodingRow).length));
        this.opts.onStep?.({ rows: rows.length, promptTokens, ms });
      }
    } catch (err) {
      // A failed step fails every sequence in flight: their caches can no longer be trusted.
      for (const s of [...this.waiting.splice(0), ...this.decoding.splice(0)]) {
        if (s.row) this.decoder.leave(s.row);
        s.reject(err);
      }
    }
  }

  /**
   * Runs prompt chunks, oldest first, while a row is free and the step's token budget allows
   * (always at least one chunk); a finished prompt chooses its first token and joins.
   */
  private async runPrompts(): Promise<number> {
    let tokens = 0;
    let budget = this.opts.maxStepTokens - this.decoding.length;
    while (this.waiting.length > 0 && this.decoding.length < this.opts.maxActive) {
      const s = this.waiting[0] as Sequence;
      const chunk = s.prefill.nextChunkTokens;
      if (tokens > 0 && chunk > budget) break;
      await s.prefill.runChunk();
      tokens += chunk;
      budget -= chunk;
      if (!s.prefill.done) continue;
      this.waiting.shift();
      this.take(s, s.prefill.logits as Float32Array, s.prefill.length);
    }
    return tokens;
  }

  /** A sequence's next-token logits: its choice, then on to the next step or out. */
  private take(s: Sequence, logits: Float32Array, length: number): void {
    const next = s.run.accept(logits, length);
    if (next !== undefined) {
      s.next = next;
      if (!s.row) {
        s.row = this.decoder.join(s.prefill);
        this.decoding.push(s);
      }
      return;
    }
    this.remove(s);
    s.resolve(s.run.result());
  }

  private remove(s: Sequence): void {
    if (s.row) {
      this.decoder.leave(s.row);
      this.decoding.splice(this.decoding.indexOf(s), 1);
    } else {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
    }
  }

  private dropCancelled(): void {
    for (const s of [...this.waiting, ...this.decoding]) {
      if (!s.signal?.aborted) continue;
      this.remove(s);
      s.reject(new GenerationCancelled(s.run.perTokenMs.length));
    }
  }
}
