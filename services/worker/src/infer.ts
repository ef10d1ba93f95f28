/**
 * The `infer` command's work, without the printing: load the INT8 artifact directly, predict the
 * next token of one prompt, time each stage. Same code path as the worker's predict jobs.
 */
import type { ModelRef, TokenProb } from '@gpt2-int8/shared/api';
import { ARTIFACT_FILES, ArtifactError } from '@gpt2-int8/shared/manifest';
import { readManifest } from '@gpt2-int8/shared/manifest';
import { encode } from '@gpt2-int8/shared/tokenizer';
import { ClientError } from './client-error.js';
import { loadModel, manifestExists } from './model-loader.js';
import { modelRef } from './model-ref.js';
import { nextTokenLogits } from './next-token-logits.js';
import { predictionFrom } from './prediction.js';

export interface InferResult {
  prompt: string;
  prompt_tokens: number;
  token: string;
  token_id: number;
  top_k: TokenProb[];
  timings_ms: { load: number; tokenize: number; inference: number; total: number };
  model: ModelRef & { dir: string; file: string };
}

export async function infer(opts: { prompt: string; modelDir: string; topK: number; threads: number }): Promise<InferResult> {
  const t0 = performance.now();
  if (!(await manifestExists(opts.modelDir))) {
    throw new ArtifactError(
      `no model in ${opts.modelDir}: ${ARTIFACT_FILES.manifest} is missing. Run the quantizer first (npm run quantize), ` +
        'or point --model-dir (or MODEL_DIR) at an artifact directory.',
    );
  }
  const manifest = await readManifest(opts.modelDir);
  const model = await loadModel(opts.modelDir, manifest, ARTIFACT_FILES.int8, { threads: opts.threads });
  try {
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    const tokens = encode(opts.prompt);
    const tokenizeMs = performance.now() - t1;
    if (tokens.length === 0) throw new ClientError('INVALID_JOB', 'the prompt encodes to no tokens');
    if (tokens.length > manifest.config.n_positions) {
      throw new ClientError('PROMPT_TOO_LONG', `the prompt is ${tokens.length} tokens; the model's context is ${manifest.config.n_positions} tokens`);
    }
    const t2 = performance.now();
    const [logits] = await nextTokenLogits(model.session, [tokens]);
    const inferenceMs = performance.now() - t2;
    const p = predictionFrom(logits as Float32Array, opts.topK);
    return {
      prompt: opts.prompt,
      prompt_tokens: tokens.length,
      token: p.token,
      token_id: p.token_id,
      top_k: p.top_k,
      timings_ms: { load: loadMs, tokenize: tokenizeMs, inference: inferenceMs, total: performance.now() - t0 },
      model: { ...modelRef(manifest), dir: opts.modelDir, file: ARTIFACT_FILES.int8 },
    };
  } finally {
    await model.session.release();
  }
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
    const pct = (t.prob * 100).toFixed(2).padStart(6);
    const bar = '█'.repeat(Math.max(0, Math.round(t.prob * 30)));
    lines.push(`  ${String(i + 1).padStart(2)}. ${JSON.stringify(t.token).padEnd(width)} ${pct}%  ${bar}`);
  });
  lines.push(
    `Latency:     inference ${ms(r.timings_ms.inference)}, tokenize ${ms(r.timings_ms.tokenize)} (model load ${ms(r.timings_ms.load)}, total ${ms(r.timings_ms.total)})`,
    `Model:       ${r.model.dir}/${r.model.file}, ${r.model.quantization}, sha256 ${r.model.sha256.slice(0, 12)}…`,
  );
  if (r.model.synthetic) lines.push('WARNING:     the weights are SYNTHETIC (random): these predictions mean nothing.');
  return `${lines.join('\n')}\n`;
}
