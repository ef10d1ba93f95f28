/** Test helpers: a producer on the worker's queue (what the gateway does), over a private Redis. */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { type Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { GeneratedToken } from '@gpt2-int8/contract/api';
import type { CompareJob, GenerateJob, JobData, JobResult, PredictJob, WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { workerHeartbeatKey } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { createRedis } from '@gpt2-int8/contract/redis';

export class QueueClient {
  readonly queue: Queue;
  readonly events: QueueEvents;
  readonly redis: Redis;
  /** Progress events by job id, in arrival order. */
  readonly progress = new Map<string, GeneratedToken[]>();

  constructor(
    redisUrl: string,
    readonly queueName: string,
  ) {
    // Listeners on the raw connections too: BullMQ leaves a QueueEvents connection without one
    // between reconnects, and ioredis then prints "Unhandled error event".
    const connection = () => createRedis(redisUrl, 'blocking').on('error', () => {});
    this.queue = new Queue(queueName, { connection: connection() });
    this.events = new QueueEvents(queueName, { connection: connection() });
    this.redis = createRedis(redisUrl, 'blocking');
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
    this.redis.on('error', () => {});
    this.events.on('progress', ({ jobId, data }) => {
      const list = this.progress.get(jobId) ?? [];
      list.push(data as GeneratedToken);
      this.progress.set(jobId, list);
    });
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async add(data: JobData, attempts = 3): Promise<Job<JobData, JobResult>> {
    return this.queue.add(data.kind, data, { attempts, removeOnComplete: { age: 300 }, removeOnFail: { age: 300 } }) as Promise<Job<JobData, JobResult>>;
  }

  async run<T extends JobResult>(data: JobData, timeoutMs = 30_000): Promise<T> {
    const job = await this.add(data);
    return (await job.waitUntilFinished(this.events, timeoutMs)) as T;
  }

  async heartbeat(workerId: string): Promise<WorkerHeartbeat | undefined> {
    const raw = await this.redis.get(workerHeartbeatKey(this.queueName, workerId));
    return raw === null ? undefined : (JSON.parse(raw) as WorkerHeartbeat);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.events.close()]);
    this.redis.disconnect();
  }
}

const base = () => ({ request_id: randomUUID(), enqueued_at: Date.now() });
export const predictJob = (prompt: string, top_k = 5): PredictJob => ({ kind: 'predict', ...base(), prompt, top_k });
export const compareJob = (prompt: string, top_k = 5): CompareJob => ({ kind: 'compare', ...base(), prompt, top_k });
export const generateJob = (prompt: string, extra: Partial<GenerateJob> = {}): GenerateJob => ({
  kind: 'generate',
  ...base(),
  prompt,
  max_new_tokens: 16,
  temperature: 0,
  top_k: 0,
  top_p: 1,
  seed: 0,
  stop: [],
  stream: true,
  ...extra,
});

/** A pino logger whose JSON lines are kept for assertions. */
export function captureLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw.push(...chunk.toString().split('\n').filter((l) => l.trim() !== ''));
      done();
    },
  });
  const logger = pino({ level: 'debug', base: { service: 'worker' } }, sink);
  return { logger, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
