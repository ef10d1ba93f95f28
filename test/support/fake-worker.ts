/**
 * A stand-in for services/worker in gateway and browser tests: a real BullMQ Worker on the same
 * queue and a real heartbeat key, answering with canned results shaped exactly like the worker's
 * (shared/contract/src/job.ts), so the gateway is tested over real Redis without ONNX Runtime.
 *
 * Prompts steer it: one containing "TOO_LONG" fails with the worker's PROMPT_TOO_LONG client error,
 * "CRASH" fails with an internal error (whose text must not reach the client), "HANG" never answers.
 *
 * It answers through BullMQ alone (as a worker that ignores `reply_to` would: the gateway's second
 * path), or with `replies: 'channel'` on the job's reply channel alone, leaving the BullMQ job
 * unfinished (the real worker does both; each path must be enough on its own).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { CompareResponse, GenerateResponse, ModelRef, PredictResponse, TokenProb } from '@gpt2-int8/contract/api';
import {
  HEARTBEAT_TTL_SECONDS,
  decodeJobError,
  encodeJobError,
  workerHeartbeatKey,
  type JobReply,
  type GenerateJob,
  type JobData,
  type JobResult,
  type WorkerHeartbeat,
} from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';

export const FAKE_MODEL: ModelRef = { sha256: 'a'.repeat(64), quantization: 'int8 per-channel, dynamic per-row activations', synthetic: true };
/** The canned continuation; generate streams these one by one. */
export const FAKE_TOKENS = [' blue', ' and', ' the', ' sun', ' is', ' bright', '.', ' Birds', ' sing', ' in', ' the', ' trees', '.'];

export interface FakeWorkerOptions {
  redisUrl: string;
  queueName: string;
  id?: string;
  /** Pause between streamed tokens, so a test (or a person) can see them arrive one by one. */
  tokenDelayMs?: number;
  /** Heartbeat state to publish (default 'ready'). */
  state?: WorkerHeartbeat['state'];
  reason?: string;
  /** Publish a heartbeat but take no jobs: requests stay queued. */
  consume?: boolean;
  /** How answers travel (see above); default 'bullmq'. */
  replies?: 'bullmq' | 'channel';
}

export interface FakeWorker {
  id: string;
  /** The data of every job taken, in order. */
  jobs: JobData[];
  close(): Promise<void>;
}

function topK(k: number): TokenProb[] {
  const words = [' blue', ' clear', ' dark', ' grey', ' falling', ' bright', ' red', ' big', ' full', ' not'];
  return Array.from({ length: k }, (_, i) => ({ token: words[i % words.length] as string, token_id: 1000 + i, prob: Math.round((0.5 / (i + 1)) * 1e4) / 1e4 }));
}

const quiet = <T extends { on(event: 'error', fn: () => void): unknown }>(conn: T): T => {
  conn.on('error', () => undefined);
  return conn;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startFakeWorker(opts: FakeWorkerOptions): Promise<FakeWorker> {
  const id = opts.id ?? `fake-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const jobs: JobData[] = [];
  const heartbeatRedis = createRedis(opts.redisUrl, 'blocking');
  // Tests stop Redis on purpose: reconnect errors are expected, not worth a log line each.
  heartbeatRedis.on('error', () => undefined);
  const key = workerHeartbeatKey(opts.queueName, id);
  const beat = async () => {
    const hb: WorkerHeartbeat = {
      id,
      state: opts.state ?? 'ready',
      ...(opts.reason ? { reason: opts.reason } : {}),
      model: { sha256: FAKE_MODEL.sha256, quantization: FAKE_MODEL.quantization, synthetic: true },
      pid: process.pid,
      host: 'test',
      at: Date.now(),
    };
    await heartbeatRedis.set(key, JSON.stringify(hb), 'EX', HEARTBEAT_TTL_SECONDS).catch(() => undefined);
  };
  await beat();
  const timer = setInterval(() => void beat(), 1000);
  const viaChannel = opts.replies === 'channel';
  const reply = async (job: Job<JobData, JobResult>, r: JobReply): Promise<void> => {
    if (job.data.reply_to === undefined) throw new Error('a job without reply_to reached a channel-only fake worker');
    await heartbeatRedis.publish(job.data.reply_to, JSON.stringify(r));
  };
  const never = () => new Promise<never>(() => undefined);

  const answer = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    if (!viaChannel) return process_(job);
    try {
      await reply(job, { id: job.id as string, result: await process_(job) });
    } catch (err) {
      // Client errors only, as the worker does: faults go through BullMQ (and retries).
      if (!(err instanceof UnrecoverableError) || decodeJobError(err.message) === undefined) throw err;
      await reply(job, { id: job.id as string, failed: err.message });
    }
    return never();
  };

  const process_ = async (job: Job<JobData, JobResult>): Promise<JobResult> => {
    const data = job.data;
    jobs.push(data);
    const queue = Date.now() - data.enqueued_at;
    if (data.prompt.includes('HANG')) await never();
    if (data.prompt.includes('TOO_LONG')) {
      throw new UnrecoverableError(encodeJobError('PROMPT_TOO_LONG', 'The prompt is 2000 tokens; this model reads at most 1024'));
    }
    if (data.prompt.includes('CRASH')) throw new UnrecoverableError('ENOENT: /srv/secret/models/model.int8.onnx (redis://:hunter2@10.0.0.5)');
    const common = { prompt: data.prompt, worker: id, model: FAKE_MODEL };
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
    return { kind: 'generate', ...(await generate(job, data, queue, common)) };
  };

  async function generate(job: Job, data: GenerateJob, queue: number, common: Pick<GenerateResponse, 'prompt' | 'worker' | 'model'>): Promise<GenerateResponse> {
    const n = Math.min(data.max_new_tokens, FAKE_TOKENS.length);
    const tokens: GenerateResponse['tokens'] = [];
    const perToken: number[] = [];
    for (let i = 0; i < n; i++) {
      // The pause stands in for the model's time on this token, and is reported as such.
      const started = performance.now();
      if (opts.tokenDelayMs) await sleep(opts.tokenDelayMs);
      const t = { index: i, token: FAKE_TOKENS[i] as string, token_id: 2000 + i };
      tokens.push(t);
      perToken.push(Math.max(2, performance.now() - started));
      if (data.stream) await (viaChannel ? reply(job, { id: job.id as string, progress: t }) : job.updateProgress(t));
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

  const worker =
    opts.consume === false
      ? undefined
      : new Worker<JobData, JobResult>(opts.queueName, answer, { connection: quiet(createRedis(opts.redisUrl, 'blocking')), concurrency: 4 });
  worker?.on('error', () => undefined);
  if (worker) await worker.waitUntilReady();

  return {
    id,
    jobs,
    close: async () => {
      clearInterval(timer);
      // force: a HANG job never finishes by itself.
      await worker?.close(true);
      await heartbeatRedis.del(key).catch(() => undefined);
      heartbeatRedis.disconnect();
    },
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
    quantization: { weights: 'int8', granularity: 'per-channel', activations: 'dynamic-per-row', embedding: 'int8' },
    graph: { attention: 'fused', logits: 'last' },
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
