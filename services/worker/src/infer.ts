/**
 * The `infer` command's work, without the printing: load the INT8 artifact directly, predict the
 * next token of one prompt, time each stage, through the worker's InferenceEngine (its prompt checks,
 * batched logits and top-k), as a predict job would.
 */
import type { ModelRef, Prediction, TokenProb } from '@gpt2-int8/contract/api';
import { ARTIFACT_FILES, ArtifactError, readManifest } from '@gpt2-int8/contract/manifest';
import { median } from '@gpt2-int8/contract/stats';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { InferenceEngine } from './engine.js';
import { loadModel, manifestExists } from './model-loader.js';
import { modelRef } from './model-ref.js';

export interface InferResult {
  prompt: string;
  prompt_tokens: number;
  token: string;
  token_id: number;
  top_k: TokenProb[];
  /** inference: median of `runs` runs after a first one (inference_first). */
  timings_ms: { load: number; tokenize: number; inference: number; inference_first: number; runs: number; total: number };
  model: ModelRef & { dir: string; file: string };
}

export async function infer(opts: { prompt: string; modelDir: string; topK: number; threads: number; runs: number }): Promise<InferResult> {
  const t0 = performance.now();
  if (!(await manifestExists(opts.modelDir))) {
    throw new ArtifactError(
      `no model in ${opts.modelDir}: ${ARTIFACT_FILES.manifest} is missing. Run the quantizer first (npm run quantize -- --model <checkpoint> --out <dir>), ` +
        'or point --model-dir (or MODEL_DIR) at an artifact directory.',
    );
  }
  const manifest = await readManifest(opts.modelDir);
  const model = await loadModel(opts.modelDir, manifest, ARTIFACT_FILES.int8, { threads: opts.threads });
  const engine = new InferenceEngine(model.session, { maxBatch: 1, batchWindowMs: 0 });
  try {
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    const tokens = encode(opts.prompt);
    const tokenizeMs = performance.now() - t1;
    // The first run pays for first-time allocations; the latency quoted is the median of the runs after it.
    const times: number[] = [];
    let prediction: Prediction | undefined;
    for (let i = 0; i <= opts.runs; i++) {
      const run = await engine.predict(tokens, opts.topK);
      times.push(run.inferenceMs);
      prediction = run.prediction;
    }
    const p = prediction as Prediction;
    const first = times[0] as number;
    const warm = times.slice(1);
    return {
      prompt: opts.prompt,
      prompt_tokens: tokens.length,
      token: p.token,
      token_id: p.token_id,
      top_k: p.top_k,
      timings_ms: { load: loadMs, tokenize: tokenizeMs, inference: warm.length > 0 ? median(warm) : first, inference_first: first, runs: warm.length, total: performance.now() - t0 },
      model: { ...modelRef(manifest), dir: opts.modelDir, file: ARTIFACT_FILES.int8 },
    };
  } finally {
    await engine.release();
  }
}

/** 12.34% — or, for the tiny probabilities of a random model, two significant digits (0.0040%). */
function percent(p: number): string {
  const v = p * 100;
  return `${v >= 0.01 || v === 0 ? v.toFixed(2) : v.toPrecision(2)}%`;
}

const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;

/** The human-readable report: prompt, predicted token, top-k bars, latency, model. */
export function formatInferResult(r: InferResult): string {
  const lines = [
    `Prompt:      ${JSON.stringify(r.prompt)} (${r.prompt_tokens} tokens)`,
    `Next token:  ${JSON.stringify(r.token)} (id ${r.token_id})`,
    `Top ${r.top_k.length}:`,
  ];
  const width = Math.max(...r.top_k.map((t) => JSON.stringify(t.token).length));
  r.top_k.forEach((t, i) => {
    const pct = percent(t.prob).padStart(8);
    const bar = '█'.repeat(Math.max(0, Math.round(t.prob * 30)));
    lines.push(`  ${String(i + 1).padStart(2)}. ${JSON.stringify(t.token).padEnd(width)} ${pct}  ${bar}`);
  });
  lines.push(
    `Latency:     inference ${ms(r.timings_ms.inference)}${r.timings_ms.runs > 1 ? ` (median of ${r.timings_ms.runs} runs; first run ${ms(r.timings_ms.inference_first)})` : ''}, tokenize ${ms(r.timings_ms.tokenize)}`,
    `             model load ${ms(r.timings_ms.load)}, total ${ms(r.timings_ms.total)}`,
    `Model:       ${r.model.dir}/${r.model.file}, ${r.model.quantization}, sha256 ${r.model.sha256.slice(0, 12)}…`,
  );
  if (r.model.synthetic) lines.push('WARNING:     the weights are SYNTHETIC (random): these predictions mean nothing.');
  return `${lines.join('\n')}\n`;
}
