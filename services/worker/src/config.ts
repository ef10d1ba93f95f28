import { hostname } from 'node:os';
import { type CommonConfig, ConfigError, type Env, EnvReader, readCommonConfig } from '@gpt2-int8/contract/config';

/** Everything a worker process reads from its environment, validated once at start-up. */
export interface WorkerConfig extends CommonConfig {
  /** ONNX Runtime intra-op threads per session (scale by processes, not threads). */
  threads: number;
  /** Names this worker in heartbeats, results and logs. */
  workerId: string;
  /** Whether compare jobs may load and run the FP32 model; false → they fail with COMPARE_DISABLED. */
  compareFp32: boolean;
  /** Largest micro-batch, and the BullMQ concurrency (jobs a worker holds at once). */
  maxBatch: number;
  /** Padded tokens (rows × longest prompt) per batched run; bounds the [batch, seq, vocab] logits. */
  maxBatchTokens: number;
  /** How long a micro-batch may wait for company once the worker is under load (0: never wait). */
  batchWindowMs: number;
  /** Generations advance together, one model call per step for all of them (scheduler.ts); false: each runs alone. */
  continuousBatching: boolean;
  /** Most generations decoding at once; with continuous batching also the jobs a worker holds at once. */
  maxActiveSequences: number;
  /** Most tokens in one scheduler step (decode rows + prompt tokens; at least one prompt chunk). */
  maxStepTokens: number;
  /** BullMQ job lock; a dead worker's job is taken over within about lockDuration + stalledInterval. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** How long to wait for manifest.json before giving up (0: forever). */
  modelWaitMaxMs: number;
  /** How often to look at MODEL_DIR for a new artifact (to swap to it) or a repaired one (when in error). */
  artifactPollMs: number;
  /** After SIGTERM, how long in-flight jobs may take before the process exits anyway (non-zero). */
  shutdownTimeoutMs: number;
}

export function readWorkerConfig(env: Env = process.env): WorkerConfig {
  const common = readCommonConfig(env);
  const r = new EnvReader(env);
  const config: WorkerConfig = {
    ...common,
    threads: r.int('WORKER_THREADS', 1, { min: 1, max: 256 }),
    workerId: r.string('WORKER_ID', `${hostname()}-${process.pid}`),
    compareFp32: r.bool('COMPARE_FP32', true),
    maxBatch: r.int('MAX_BATCH', 8, { min: 1, max: 256 }),
    maxBatchTokens: r.int('MAX_BATCH_TOKENS', 1024, { min: 1 }),
    batchWindowMs: r.int('BATCH_WINDOW_MS', 2, { min: 0, max: 1000 }),
    continuousBatching: r.bool('CONTINUOUS_BATCHING', true),
    maxActiveSequences: r.int('MAX_ACTIVE_SEQUENCES', 32, { min: 1, max: 256 }),
    maxStepTokens: r.int('MAX_STEP_TOKENS', 256, { min: 1, max: 4096 }),
    lockDurationMs: r.int('LOCK_DURATION_MS', 5000, { min: 1000, max: 600_000 }),
    stalledIntervalMs: r.int('STALLED_INTERVAL_MS', 2000, { min: 500, max: 600_000 }),
    modelWaitMaxMs: r.int('MODEL_WAIT_MAX_MS', 0, { min: 0 }),
    artifactPollMs: r.int('ARTIFACT_POLL_MS', 2000, { min: 100, max: 600_000 }),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 30_000, { min: 100 }),
  };
  if (!/^[\w.:@-]{1,128}$/.test(config.workerId)) {
    throw new ConfigError(`WORKER_ID=${JSON.stringify(config.workerId)} must be 1-128 letters, digits or . : @ _ -`);
  }
  return config;
}
