/**
 * What the gateway's test workers answer, and the artifact they claim to serve: canned results shaped
 * exactly like the worker's (shared/contract/src/job.ts), without ONNX Runtime. Two fakes answer with them —
 * fake-worker.ts, a real BullMQ Worker over Redis, and services/gateway/test/in-memory-parts.ts, a job
 * client in the test's own process — so a test gets the same answers whichever it uses.
 *
 * Prompts steer it: one containing "TOO_LONG" fails with the worker's PROMPT_TOO_LONG client error,
 * "CRASH" fails with an internal error (whose text must not reach the client), "HANG" never answers.
 * Score jobs and generate's log-probabilities get made-up but well-formed values.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompareResponse, GenerateResponse, ModelRef, PredictResponse, TokenProb } from '@gpt2-int8/contract/api';
import { encodeJobError, type GenerateJob, type JobData, type JobResult, type StreamProgress, type WorkerHeartbeat } from '@gpt2-int8/contract/job';

export const FAKE_MODEL: ModelRef = { sha256: 'a'.repeat(64), quantization: 'int8 per-channel, dynamic per-row activations', synthetic: true };
/** The canned continuation; generate streams these one by one. */
export const FAKE_TOKENS = [' blue', ' and', ' the', ' sun', ' is', ' bright', '.', ' Birds', ' sing', ' in', ' the', ' trees', '.'];

/** A job the fake fails, as a worker does: `message` is the job's failed reason (a client error encoded by shared/contract/src/job.ts, or a fault's text). */
export class FakeJobFailure extends Error {
  override name = 'FakeJobFailure';
}

export interface FakeAnswerOptions {
  /** The worker id the results name. */
  worker: string;
  /** Pause between generated tokens, so a test (or a person) can see them arrive one by one. */
  tokenDelayMs?: number;
  /** Each token of a streamed generate (stream: true), as it is produced. */
  onToken?: (token: StreamProgress) => unknown;
}

/** A heartbeat as a live worker serving FAKE_MODEL publishes it. */
export function fakeHeartbeat(id: string, state: WorkerHeartbeat['state'] = 'ready', reason?: string): WorkerHeartbeat {
  return {
    id,
    state,
    ...(reason ? { reason } : {}),
    model: { sha256: FAKE_MODEL.sha256, quantization: FAKE_MODEL.quantization, synthetic: true },
    pid: process.pid,
    host: 'test',
    at: Date.now(),
  };
}

function topK(k: number): TokenProb[] {
  const words = [' blue', ' clear', ' dark', ' grey', ' falling', ' bright', ' red', ' big', ' full', ' not'];
  return Array.from({ length: k }, (_, i) => ({ token: words[i % words.length] as string, token_id: 1000 + i, prob: Math.round((0.5 / (i + 1)) * 1e4) / 1e4 }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The job's result, or a FakeJobFailure; never settles for a "HANG" prompt. */
export async function fakeAnswer(data: JobData, opts: FakeAnswerOptions): Promise<JobResult> {
  const queue = Date.now() - data.enqueued_at;
  if (data.prompt.includes('HANG')) await new Promise<never>(() => undefined);
  if (data.prompt.includes('TOO_LONG')) {
    throw new FakeJobFailure(encodeJobError('PROMPT_TOO_LONG', 'The prompt is 2000 tokens; this model reads at most 1024'));
  }
  if (data.prompt.includes('CRASH')) throw new FakeJobFailure('ENOENT: /srv/secret/models/model.int8.onnx (redis://:hunter2@10.0.0.5)');
  const common = { prompt: data.prompt, worker: opts.worker, model: FAKE_MODEL };
  if (data.kind === 'predict') {
    const k = topK(data.top_k);
    // Unrounded, as a real worker measures them: the gateway rounds what it answers.
    const r: PredictResponse = { ...common, token: k[0]!.token, token_id: k[0]!.token_id, top_k: k, timings_ms: { queue, tokenize: 0.204917, inference: 3.1415926, total: 3.5 } };
    return { kind: 'predict', ...r };
  }
  if (data.kind === 'compare') {
    const k = topK(data.top_k);
    // Medians of 5 runs each, as the worker reports them; inference is all ten runs. A prompt
    // with "SLOW_INT8" has INT8 the slower one; with "COLD", the FP32 model was loaded for it.
    const [int8Ms, fp32Ms] = data.prompt.includes('SLOW_INT8') ? [4.3, 3.1] : [3.1, 7.4];
    const r: CompareResponse = {
      ...common,
      int8: { token: k[0]!.token, token_id: k[0]!.token_id, top_k: k, inference_ms: int8Ms },
      fp32: { token: k[0]!.token, token_id: k[0]!.token_id, top_k: k, inference_ms: fp32Ms },
      same: true,
      speedup: fp32Ms / int8Ms,
      runs: 5,
      timings_ms: { queue, tokenize: 0.2, inference: 5 * (int8Ms + fp32Ms), ...(data.prompt.includes('COLD') ? { load: 452.5 } : {}), total: 5 * (int8Ms + fp32Ms) + 1 },
    };
    return { kind: 'compare', ...r };
  }
  if (data.kind === 'score') {
    // The prompt's tokens (ids as sent, else one per word), each scored -1 - position/10; the
    // first has no log-probability, as the worker's engine.score answers.
    const ids = data.prompt_token_ids ?? data.prompt.split(/(?= )/).map((_, i) => 3000 + i);
    const tokens = ids.map((id, t) =>
      t === 0
        ? { token: `<${id}>`, token_id: id, logprob: null, top_logprobs: null }
        : { token: `<${id}>`, token_id: id, logprob: -1 - t / 10, top_logprobs: fakeAlternatives(data.top_logprobs) },
    );
    return { kind: 'score', ...common, tokens, timings_ms: { queue, tokenize: 0, inference: 1, total: 2 } };
  }
  return { kind: 'generate', ...(await generate(data, queue, common, opts)) };
}

/** The k alternatives listed with a token when log-probabilities are asked for. */
function fakeAlternatives(k: number): { token: string; token_id: number; logprob: number }[] {
  return topK(k).map((t) => ({ token: t.token, token_id: t.token_id, logprob: Math.log(t.prob) }));
}

async function generate(data: GenerateJob, queue: number, common: Pick<GenerateResponse, 'prompt' | 'worker' | 'model'>, opts: FakeAnswerOptions): Promise<GenerateResponse> {
  const n = Math.min(data.max_new_tokens, FAKE_TOKENS.length);
  const tokens: GenerateResponse['tokens'] = [];
  const perToken: number[] = [];
  for (let i = 0; i < n; i++) {
    // The pause stands in for the model's time on this token, and is reported as such.
    const started = performance.now();
    if (opts.tokenDelayMs) await sleep(opts.tokenDelayMs);
    const t = {
      index: i,
      token: FAKE_TOKENS[i] as string,
      token_id: 2000 + i,
      ...(data.logprobs !== undefined ? { logprob: -0.5 - i / 100, top_logprobs: fakeAlternatives(data.logprobs) } : {}),
    };
    tokens.push(t);
    perToken.push(Math.max(2, performance.now() - started));
    if (data.stream) await opts.onToken?.(t);
  }
  const inference = perToken.reduce((a, b) => a + b, 0);
  return {
    ...common,
    text: tokens.map((t) => t.token).join(''),
    tokens,
    finish_reason: n < data.max_new_tokens ? 'eos' : 'length',
    timings_ms: { queue, tokenize: 0.2, inference, per_token: perToken, total: inference + 1 },
  };
}

/** A MODEL_DIR holding a manifest.json and report.json valid under shared's schemas (no model files: the gateway never reads them). */
export function writeFakeArtifact(opts: { synthetic?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-artifact-'));
  const synthetic = opts.synthetic ?? true;
  const file = (bytes: number, c: string) => ({ bytes, sha256: c.repeat(64) });
  const manifest = {
    format_version: 2,
    tool_version: '0.1.0',
    created_at: '2026-11-25T12:00:00.000Z',
    source: { kind: 'hf-dir', id: synthetic ? '/srv/private/checkpoints/distilgpt2-synthetic' : '/srv/private/checkpoints/distilgpt2', sha256: 'c'.repeat(64) },
    synthetic,
    config: { n_layer: 6, n_embd: 768, n_head: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5 },
    quantization: { weights: 'int8', granularity: 'per-channel', activations: 'dynamic-per-row', embedding: 'int8', activation_passes: 2 },
    graph: { attention: 'past-apart', logits: 'last' },
    files: { 'model.int8.onnx': file(51_000_000, 'a'), 'model.int8.onnx.data': file(41_800_000, 'e'), 'model.fp32.onnx': file(353_000_000, 'b'), 'report.json': file(2048, 'd') },
    fp32_bytes: 353_000_000,
    int8_bytes: 92_800_000,
  };
  const report = {
    prompts: 32,
    top1_agreement: 0.969,
    top5_overlap: 0.94,
    mean_kl: 0.012,
    max_abs_logit_diff: 0.8,
    latency_ms: { fp32: 41.2, int8: 17.9, speedup: 2.3, threads: 1 },
    // As the quantizer writes it (validation-report.ts): ratio is INT8 ÷ FP32, a fraction, as
    // for distilgpt2 (docs/performance.md: 0.263).
    bytes: { fp32: 353_000_000, int8: 92_800_000, ratio: 92_800_000 / 353_000_000 },
    synthetic,
    rows: [{ prompt: 'The sky is', fp32_token: ' blue', int8_token: ' blue', same: true, top5_overlap: 1, kl: 0.001, max_abs_logit_diff: 0.2 }],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2));
  return dir;
}

