import { describe, expect, it } from 'vitest';
import { ConfigError } from '@gpt2-int8/contract/config';
import { readWorkerConfig } from './config.js';

describe('readWorkerConfig', () => {
  it('has defaults that work locally', () => {
    const c = readWorkerConfig({});
    expect(c).toMatchObject({
      threads: 1,
      compareFp32: true,
      maxBatch: 8,
      maxBatchTokens: 1024,
      batchWindowMs: 2,
      continuousBatching: true,
      maxActiveSequences: 32,
      maxStepTokens: 256,
      lockDurationMs: 5000,
      stalledIntervalMs: 2000,
      modelWaitMaxMs: 0,
      artifactPollMs: 2000,
      queueName: 'infer',
      redis: { url: 'redis://127.0.0.1:6379' },
    });
    expect(c.workerId).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('reads every variable', () => {
    const c = readWorkerConfig({
      WORKER_THREADS: '2',
      WORKER_ID: 'w-1',
      COMPARE_FP32: 'false',
      MAX_BATCH: '4',
      BATCH_WINDOW_MS: '0',
      CONTINUOUS_BATCHING: 'false',
      MAX_ACTIVE_SEQUENCES: '16',
      MAX_STEP_TOKENS: '128',
      LOCK_DURATION_MS: '3000',
      STALLED_INTERVAL_MS: '1000',
      MODEL_WAIT_MAX_MS: '60000',
      ARTIFACT_POLL_MS: '500',
      SHUTDOWN_TIMEOUT_MS: '5000',
      MODEL_DIR: '/m',
      QUEUE_NAME: 'q',
    });
    expect(c).toMatchObject({ threads: 2, workerId: 'w-1', compareFp32: false, maxBatch: 4, batchWindowMs: 0, continuousBatching: false, maxActiveSequences: 16, maxStepTokens: 128, lockDurationMs: 3000, stalledIntervalMs: 1000, modelWaitMaxMs: 60000, artifactPollMs: 500, shutdownTimeoutMs: 5000, modelDir: '/m', queueName: 'q' });
  });

  it.each([
    ['WORKER_THREADS', '0'],
    ['WORKER_THREADS', 'two'],
    ['MAX_BATCH', '1.5'],
    ['BATCH_WINDOW_MS', '-1'],
    ['COMPARE_FP32', 'maybe'],
    ['CONTINUOUS_BATCHING', 'yes please'],
    ['MAX_ACTIVE_SEQUENCES', '0'],
    ['MAX_STEP_TOKENS', '0'],
    ['LOCK_DURATION_MS', '10'],
    ['MODEL_WAIT_MAX_MS', 'forever'],
    ['ARTIFACT_POLL_MS', '10'],
    ['WORKER_ID', 'has space'],
    ['REDIS_URL', 'http://x'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => readWorkerConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => readWorkerConfig({ [name]: value })).toThrow(name);
  });
});
