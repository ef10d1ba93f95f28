/**
 * Model-level figures for one artifact, 1 intra-op thread: next-token latency of FP32, the project's
 * INT8 and the ORT-standard peer (the same FP32 graph quantized as onnxruntime's quantize_dynamic
 * does, artifacts.ts ensureOrtStandard) at several prompt lengths and for one KV-cache decode step,
 * greedy generation with and without the KV cache, artifact sizes and session load time. Every
 * group of models (or cache/recompute pair) is measured interleaved in one run.
 */
import { stat } from 'node:fs/promises';
import { Gpt2Session, leftPad } from '@gpt2-int8/runtime/gpt2-session';
import { GRAPH_IO } from '@gpt2-int8/runtime/graph-io';
import { startDecoding } from '@gpt2-int8/runtime/kv-decoder';
import { argmax } from '@gpt2-int8/runtime/logits';
import { readManifest } from '@gpt2-int8/contract/manifest';
import { SAMPLE_TEXT } from '@gpt2-int8/dev/sample-text';
import { encode, EOS_TOKEN_ID } from '@gpt2-int8/runtime/tokenizer';
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
  /** The ORT-standard peer, interleaved with the two. */
  peer_ms: Summary;
  /** median INT8 ÷ median peer */
  peer_ratio: number;
  peer_pair_ratio_p10: number;
  peer_pair_ratio_p90: number;
}

/** One KV-cache decode step (batch 1, one new token against `context` cached positions), as the worker's slot cache runs it. */
export interface DecodeFigure extends Omit<LatencyFigure, 'prompt_tokens'> {
  context: number;
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
  sizes: { fp32_bytes: number; int8_bytes: number; ratio: number; peer_bytes: number };
  load_ms: { fp32: Summary; int8: Summary };
  latency: LatencyFigure[];
  decode: DecodeFigure;
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

/** FP32, INT8 and the peer timed interleaved (ABBA) on the same call; ratios of medians and per-triple p10–p90. */
async function measureTriple(calls: [() => Promise<unknown>, () => Promise<unknown>, () => Promise<unknown>], settings: ModelBenchSettings, onRep: (r: number) => void): Promise<Omit<LatencyFigure, 'prompt_tokens'>> {
  const [f, i, p] = (await interleaved(calls, settings.latencyReps, settings.warmups, onRep)) as [number[], number[], number[]];
  const fs = summarize(f);
  const is = summarize(i);
  const pz = summarize(p);
  const vsFp32 = summarize(i.map((x, k) => x / (f[k] as number)));
  const vsPeer = summarize(i.map((x, k) => x / (p[k] as number)));
  return {
    fp32_ms: roundSummary(fs),
    int8_ms: roundSummary(is),
    ratio: round(is.median / fs.median, 4),
    pair_ratio_p10: round(vsFp32.p10, 4),
    pair_ratio_p90: round(vsFp32.p90, 4),
    peer_ms: roundSummary(pz),
    peer_ratio: round(is.median / pz.median, 4),
    peer_pair_ratio_p10: round(vsPeer.p10, 4),
    peer_pair_ratio_p90: round(vsPeer.p90, 4),
  };
}

async function measureLatency(fp32: Gpt2Session, int8: Gpt2Session, peer: Gpt2Session, tokens: number[], settings: ModelBenchSettings, say: Say): Promise<LatencyFigure> {
  const call = (s: Gpt2Session) => () => promptLogits(s, tokens);
  const figure = await measureTriple([call(fp32), call(int8), call(peer)], settings, (r) => say(`${tokens.length}-token prompt, rep ${r}/${settings.latencyReps}`));
  return { prompt_tokens: tokens.length, ...figure };
}

/**
 * A decode step at `context` cached positions: the cache from one pass over a prompt of that length,
 * then one new token against it, fetching the logits and the new position's keys and values
 * (present_new.*) only, as the worker's slot cache does (shared/runtime/src/kv-decoder.ts). Every call
 * repeats the same step on the same cache.
 */
export async function decodeStep(session: Gpt2Session, context: number): Promise<() => Promise<unknown>> {
  const prompt = proseTokens(context);
  const filled = await session.step(leftPad([prompt], EOS_TOKEN_ID), session.emptyCache(1));
  const fetch = Array.from({ length: session.config.n_layer }, (_, l) => [GRAPH_IO.presentNewKey(l), GRAPH_IO.presentNewValue(l)]).flat();
  const input = { inputIds: [[prompt[0] as number]], attentionMask: [Array<number>(context + 1).fill(1)] };
  return () => session.run(input, filled.cache, fetch);
}

async function measureDecode(fp32: Gpt2Session, int8: Gpt2Session, peer: Gpt2Session, context: number, settings: ModelBenchSettings, say: Say): Promise<DecodeFigure> {
  const calls = [await decodeStep(fp32, context), await decodeStep(int8, context), await decodeStep(peer, context)] as [() => Promise<unknown>, () => Promise<unknown>, () => Promise<unknown>];
  const figure = await measureTriple(calls, settings, (r) => say(`decode step at ${context}, rep ${r}/${settings.latencyReps}`));
  return { context, ...figure };
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
export async function runModelBench(preset: string, dir: string, peerPath: string, settings: ModelBenchSettings, say: Say): Promise<ModelBenchResult> {
  const manifest = await readManifest(dir);
  const load_ms = await measureLoad(dir, settings, say);
  const pair = await loadModelPair(dir, settings.threads);
  const peer = await Gpt2Session.load(peerPath, manifest.config, { threads: settings.threads });
  try {
    const latency: LatencyFigure[] = [];
    for (const n of settings.promptTokens) {
      if (n > manifest.config.n_positions) continue;
      latency.push(await measureLatency(pair.fp32, pair.int8, peer, proseTokens(n), settings, say));
    }
    const context = Math.min(settings.generationContext, manifest.config.n_positions);
    const decode = await measureDecode(pair.fp32, pair.int8, peer, Math.min(context, manifest.config.n_positions - 1), settings, say);
    const generation = await measureGeneration(pair.int8, { ...settings, generationContext: context }, say);
    return {
      preset,
      artifact: { dir, source: manifest.source.id, synthetic: manifest.synthetic, tool_version: manifest.tool_version, int8_sha256: manifest.files['model.int8.onnx'].sha256 },
      config: { ...manifest.config },
      threads: settings.threads,
      sizes: { fp32_bytes: manifest.fp32_bytes, int8_bytes: manifest.int8_bytes, ratio: round(manifest.int8_bytes / manifest.fp32_bytes, 4), peer_bytes: (await stat(peerPath)).size },
      load_ms,
      latency,
      decode,
      generation,
    };
  } finally {
    await releasePair(pair);
    await peer.release();
  }
}
