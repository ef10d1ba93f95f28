/**
 * Model-level figures for one artifact, 1 intra-op thread: next-token latency FP32 vs INT8 at two
 * prompt lengths, greedy generation with and without the KV cache, artifact sizes and session load
 * time. Every FP32/INT8 (or cache/recompute) pair is measured interleaved in one run.
 */
import { Gpt2Session } from '@gpt2-int8/runtime/gpt2-session';
import { startDecoding } from '@gpt2-int8/runtime/kv-decoder';
import { argmax } from '@gpt2-int8/runtime/logits';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { SAMPLE_TEXT } from '@gpt2-int8/dev/sample-text';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { promptLogits } from '@gpt2-int8/runtime/next-token-logits';
import { artifactPaths, loadModelPair, releasePair } from './model-pair.js';
import { interleaved, round, roundSummary, type Summary, summarize } from './summary.js';

export interface ModelBenchSettings {
  /** Timed runs per model and prompt length (after `warmups`). */
  latencyReps: number;
  warmups: number;
  /** Interleaved cache/recompute generations. */
  generationReps: number;
  loadReps: number;
  /** Prompt lengths for next-token latency. */
  promptTokens: number[];
  /** Context the generation reaches, and how many tokens it generates to get there. */
  generationContext: number;
  generationTokens: number;
  threads: number;
}

export interface LatencyFigure {
  prompt_tokens: number;
  fp32_ms: Summary;
  int8_ms: Summary;
  /** median INT8 ÷ median FP32 */
  ratio: number;
  /** p10 and p90 of the per-pair ratios (each INT8 run ÷ the FP32 run beside it). */
  pair_ratio_p10: number;
  pair_ratio_p90: number;
}

export interface GenerationFigure {
  model: 'int8';
  prompt_tokens: number;
  new_tokens: number;
  context: number;
  /** Per-token ms with the KV cache: one decode step (one new token against the cache). */
  cached_ms_per_token: Summary;
  /** Per-token ms recomputing the whole prefix (no cache) every token. */
  recompute_ms_per_token: Summary;
  cached_tokens_per_s: number;
  recompute_tokens_per_s: number;
  /** The prompt's forward pass that fills the cache (not counted in the per-token figures). */
  prefill_ms: Summary;
  /** median cached ÷ median recompute per-token cost. */
  ratio: number;
  /** Whether both ways generated the same tokens (they should: per-row activations). */
  identical_tokens: boolean;
}

export interface ModelBenchResult {
  preset: string;
  artifact: { dir: string; source: string; synthetic: boolean; tool_version: string; int8_sha256: string };
  config: Record<string, number>;
  threads: number;
  sizes: { fp32_bytes: number; int8_bytes: number; ratio: number };
  load_ms: { fp32: Summary; int8: Summary };
  latency: LatencyFigure[];
  generation: GenerationFigure;
}

export type Say = (detail: string) => void;

/** The tokens of real prose, repeated if the text is shorter than `n`. */
export function proseTokens(n: number): number[] {
  const text = encode(SAMPLE_TEXT);
  const out: number[] = [];
  while (out.length < n) out.push(...text.slice(0, n - out.length));
  return out;
}

export async function measureLoad(dir: string, settings: ModelBenchSettings, say: Say): Promise<ModelBenchResult['load_ms']> {
  const manifest = await readManifest(dir);
  const paths = artifactPaths(dir);
  const load = (path: string) => async () => (await Gpt2Session.load(path, manifest.config, { threads: settings.threads })).release();
  const [fp32, int8] = await interleaved([load(paths.fp32), load(paths.int8)], settings.loadReps, 1, (r) => say(`load ${r}/${settings.loadReps}`));
  return { fp32: roundSummary(summarize(fp32 as number[])), int8: roundSummary(summarize(int8 as number[])) };
}

async function measureLatency(fp32: Gpt2Session, int8: Gpt2Session, tokens: number[], settings: ModelBenchSettings, say: Say): Promise<LatencyFigure> {
  const [f, i] = (await interleaved([() => promptLogits(fp32, tokens), () => promptLogits(int8, tokens)], settings.latencyReps, settings.warmups, (r) =>
    say(`${tokens.length}-token prompt, rep ${r}/${settings.latencyReps}`),
  )) as [number[], number[]];
  const pairs = i.map((x, k) => x / (f[k] as number));
  const fs = summarize(f);
  const is = summarize(i);
  const ps = summarize(pairs);
  return { prompt_tokens: tokens.length, fp32_ms: roundSummary(fs), int8_ms: roundSummary(is), ratio: round(is.median / fs.median, 4), pair_ratio_p10: round(ps.p10, 4), pair_ratio_p90: round(ps.p90, 4) };
}

/** Greedy generation through the KV cache as the worker does it: the prefill, then one timed decode step per new token. */
async function generateCached(session: Gpt2Session, prompt: number[], steps: number): Promise<{ prefillMs: number; stepMs: number[]; tokens: number[] }> {
  let started = performance.now();
  const decoding = await startDecoding(session, prompt);
  const prefillMs = performance.now() - started;
  const tokens = [argmax(decoding.logits)];
  const stepMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    started = performance.now();
    const logits = await decoding.next(tokens[tokens.length - 1] as number);
    stepMs.push(performance.now() - started);
    tokens.push(argmax(logits));
  }
  return { prefillMs, stepMs, tokens };
}

/** Greedy generation without a cache: every new token runs the whole prefix again. */
async function generateRecompute(session: Gpt2Session, prompt: number[], first: number, steps: number): Promise<{ stepMs: number[]; tokens: number[] }> {
  const tokens = [first];
  const stepMs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const started = performance.now();
    const logits = await promptLogits(session, [...prompt, ...tokens]);
    stepMs.push(performance.now() - started);
    tokens.push(argmax(logits));
  }
  return { stepMs, tokens };
}

/**
 * Tokens/s with and without the KV cache at `context` tokens: a prompt of context − N tokens, then N
 * new tokens, the last of them computed at the full context; per-token cost = mean step time of a
 * generation, median over interleaved repetitions.
 */
export async function measureGeneration(session: Gpt2Session, settings: ModelBenchSettings, say: Say): Promise<GenerationFigure> {
  const n = settings.generationTokens;
  const prompt = proseTokens(settings.generationContext - n);
  const cached: number[] = [];
  const recompute: number[] = [];
  const prefill: number[] = [];
  let identical = true;
  // One untimed round of each first (warm-up).
  const warm = await generateCached(session, prompt, n);
  await generateRecompute(session, prompt, warm.tokens[0] as number, n);
  for (let r = 0; r < settings.generationReps; r++) {
    const runCached = async () => {
      const g = await generateCached(session, prompt, n);
      cached.push(g.stepMs.reduce((a, b) => a + b, 0) / n);
      prefill.push(g.prefillMs);
      return g;
    };
    const runRecompute = async (first: number) => {
      const g = await generateRecompute(session, prompt, first, n);
      recompute.push(g.stepMs.reduce((a, b) => a + b, 0) / n);
      return g;
    };
    let a: { tokens: number[] };
    let b: { tokens: number[] };
    if (r % 2 === 0) {
      a = await runCached();
      b = await runRecompute(a.tokens[0] as number);
    } else {
      b = await runRecompute(warm.tokens[0] as number);
      a = await runCached();
    }
    if (a.tokens.join() !== b.tokens.join()) identical = false;
    say(`generation ${r + 1}/${settings.generationReps}`);
  }
  const c = summarize(cached);
  const x = summarize(recompute);
  return {
    model: 'int8',
    prompt_tokens: prompt.length,
    new_tokens: n,
    context: prompt.length + n,
    cached_ms_per_token: roundSummary(c),
    recompute_ms_per_token: roundSummary(x),
    cached_tokens_per_s: round(1000 / c.median, 1),
    recompute_tokens_per_s: round(1000 / x.median, 1),
    prefill_ms: roundSummary(summarize(prefill)),
    ratio: round(c.median / x.median, 4),
    identical_tokens: identical,
  };
}

/** All model-level figures of one artifact; `say` reports what is being measured. */
export async function runModelBench(preset: string, dir: string, settings: ModelBenchSettings, say: Say): Promise<ModelBenchResult> {
  const manifest = await readManifest(dir);
  const load_ms = await measureLoad(dir, settings, say);
  const pair = await loadModelPair(dir, settings.threads);
  try {
    const latency: LatencyFigure[] = [];
    for (const n of settings.promptTokens) {
      if (n > manifest.config.n_positions) continue;
      latency.push(await measureLatency(pair.fp32, pair.int8, proseTokens(n), settings, say));
    }
    const context = Math.min(settings.generationContext, manifest.config.n_positions);
    const generation = await measureGeneration(pair.int8, { ...settings, generationContext: context }, say);
    return {
      preset,
      artifact: { dir, source: manifest.source.id, synthetic: manifest.synthetic, tool_version: manifest.tool_version, int8_sha256: manifest.files['model.int8.onnx'].sha256 },
      config: { ...manifest.config },
      threads: settings.threads,
      sizes: { fp32_bytes: manifest.fp32_bytes, int8_bytes: manifest.int8_bytes, ratio: round(manifest.int8_bytes / manifest.fp32_bytes, 4) },
      load_ms,
      latency,
      generation,
    };
  } finally {
    await releasePair(pair);
  }
}
