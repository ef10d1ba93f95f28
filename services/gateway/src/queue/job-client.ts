/**
 * Request/reply over the BullMQ queue: add a job, wait (bounded) for its result, relay its
 * progress (streamed tokens). Why it is built this way:
 *
 * - Replies come straight back on this gateway's own pub/sub channel, named in each job
 *   (shared/contract/src/job.ts JobReply): the quickest path. BullMQ's QueueEvents listener stays as the second
 *   path (and the only one for failures that are not client errors); whichever answer comes first
 *   wins. Both are registered *before* the job is added, so no reply can arrive before someone listens. (BullMQ's
 *   job.waitUntilFinished registers after `add` and re-checks; it also awaits Redis inside a Promise
 *   executor, where a Redis error becomes an unhandled rejection that would kill the process.)
 * - Every wait is bounded by the request timeout; when it runs out, the job's state is read once
 *   directly (a completion event can be lost) before answering 504.
 * - Completed jobs are kept a short while (age/count), never removed at once: removal races the
 *   waiter reading the result.
 * - The producer connection fails commands at once while Redis is down (shared/contract/src/redis.ts), and
 *   admission (admission.ts) checks the connection before enqueueing, so Redis down is a fast 503,
 *   not a hang.
 * - The client owns its three connections (made in redis-parts.ts) and closes them when it closes.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { cancelChannel, decodeJobError, type JobData, type JobReply, type JobResult, parseJobReply, replyChannel, type StreamProgress } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { queueUnavailable } from '../admission.js';
import { ApiError, ClientGoneError } from '../errors/api-error.js';
import type { Jobs, QueueCounts, RunOptions } from '../parts.js';

export const JOB_OPTIONS: JobsOptions = {
  // A worker that dies mid-job: the stalled job is retried once by another worker.
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  // Long enough for the waiter's direct read after a lost event; bounded so Redis does not grow.
  removeOnComplete: { age: 60, count: 1000 },
  removeOnFail: { age: 300 },
};

type Outcome = { result: JobResult } | { failedReason: string } | { error: Error } | { timeout: true } | { aborted: true };

interface Pending {
  settle: (outcome: Outcome) => void;
  onProgress?: ((progress: StreamProgress) => void) | undefined;
}

export class JobClient implements Jobs {
  private readonly pending = new Map<string, Pending>();
  /** This gateway's reply channel, named in every job it adds. */
  readonly replyTo: string;
  private readonly subscribed: Promise<unknown>;

  constructor(
    readonly queue: Queue,
    readonly events: QueueEvents,
    private readonly producer: Redis,
    private readonly blocking: Redis,
    private readonly subscriber: Redis,
    private readonly log: Logger,
  ) {
    this.replyTo = replyChannel(queue.name, randomUUID());
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.replyTo) this.onReply(message);
    });
    // ioredis subscribes again by itself after a reconnect.
    this.subscribed = subscriber.subscribe(this.replyTo);
    this.subscribed.catch((err: unknown) => this.connectionError('reply channel', err as Error));
    events.on('completed', ({ jobId, returnvalue }) => this.pending.get(jobId)?.settle({ result: returnvalue as unknown as JobResult }));
    events.on('failed', ({ jobId, failedReason }) => this.pending.get(jobId)?.settle({ failedReason }));
    events.on('progress', ({ jobId, data }) => {
      const p = this.pending.get(jobId);
      if (p?.onProgress && data !== null && typeof data === 'object') p.onProgress(data as StreamProgress);
    });
    events.on('error', (err) => this.connectionError('queue events', err));
    // Waiting out the timeout for a result that cannot arrive helps nobody: when the connection to
    // Redis drops, every request in flight gets a 503 at once.
    producer.on('close', () => {
      for (const p of this.pending.values()) p.settle({ error: queueUnavailable() });
    });
  }

  /** `blocking` and `subscriber` are given over to QueueEvents and the reply channel. */
  static async create(queueName: string, connections: { producer: Redis; blocking: Redis; subscriber: Redis }, log: Logger): Promise<JobClient> {
    const { producer, blocking, subscriber } = connections;
    const queue = new Queue(queueName, { connection: producer });
    const events = new QueueEvents(queueName, { connection: blocking });
    const client = new JobClient(queue, events, producer, blocking, subscriber, log);
    queue.on('error', (err) => client.connectionError('queue', err));
    return client;
  }

  /**
   * BullMQ reports every failed reconnect. A Redis outage is logged once where the connections are
   * made (redis-parts.ts); during one these are noise, otherwise they are worth a warning.
   */
  private connectionError(source: string, err: Error): void {
    if (this.producer.status === 'ready') this.log.warn({ err: err.message }, `${source} connection error`);
    else this.log.debug({ err: err.message }, `${source} connection error (Redis unreachable)`);
  }

  private onReply(message: string): void {
    const reply: JobReply | undefined = parseJobReply(message);
    if (reply === undefined) {
      this.log.warn({ channel: this.replyTo }, 'ignored a malformed message on the reply channel');
      return;
    }
    const p = this.pending.get(reply.id);
    if (p === undefined) return; // answered already (the other path, or a retried job), or abandoned
    if ('result' in reply) p.settle({ result: reply.result });
    else if ('failed' in reply) p.settle({ failedReason: reply.failed });
    else p.onProgress?.(reply.progress);
  }

  /** Resolves once the event stream is read and the reply channel subscribed (replies from now on are seen). */
  async ready(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      const listening = Promise.all([this.events.waitUntilReady(), this.subscribed]);
      return await Promise.race([listening.then(() => true, () => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get connected(): boolean {
    return this.producer.status === 'ready';
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0 };
  }

  async reachable(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.producer.ping().then((r) => r === 'PONG'),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Enqueues a job and waits for its result; admission.ts has decided it may be queued. */
  async run(data: JobData, opts: RunOptions): Promise<JobResult> {
    if (opts.signal?.aborted) throw new ClientGoneError('client disconnected');

    const jobId = randomUUID();
    let settle!: Pending['settle'];
    const outcome = new Promise<Outcome>((resolve) => {
      settle = resolve;
    });
    // A streamed job waits at most timeoutMs for each token, not for all of them: a generation that
    // is producing tokens is not cut off at timeoutMs (under load, 256-token streams were, at 126).
    const timer = setTimeout(() => settle({ timeout: true }), opts.timeoutMs);
    const onProgress = opts.onProgress;
    const progress =
      onProgress &&
      ((p: StreamProgress) => {
        timer.refresh();
        onProgress(p);
      });
    this.pending.set(jobId, { settle, onProgress: progress });
    const onAbort = () => settle({ aborted: true });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        await this.queue.add(data.kind, { ...data, reply_to: this.replyTo }, { ...JOB_OPTIONS, jobId });
      } catch (err) {
        this.log.warn({ err: (err as Error).message, jobId }, 'could not enqueue');
        throw queueUnavailable();
      }
      const o = await outcome;
      if ('result' in o) return o.result;
      if ('failedReason' in o) throw failedJobError(o.failedReason, jobId, this.log);
      if ('error' in o) throw o.error;
      if ('aborted' in o) {
        await this.dropJob(jobId);
        throw new ClientGoneError('client disconnected');
      }
      return await this.afterTimeout(jobId, opts.timeoutMs);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      this.pending.delete(jobId);
    }
  }

  /** The one direct look at the job when no event came in time: lost events happen. */
  private async afterTimeout(jobId: string, timeoutMs: number): Promise<JobResult> {
    try {
      const job = await this.queue.getJob(jobId);
      const state = job ? await job.getState() : 'unknown';
      if (job && state === 'completed') return job.returnvalue as JobResult;
      if (job && state === 'failed') throw failedJobError(job.failedReason, jobId, this.log);
      // Nobody will read its answer now: don't spend a worker on it.
      await this.dropJob(jobId);
      this.log.warn({ jobId, state }, 'job timed out');
    } catch (err) {
      if (err instanceof ApiError) throw err;
      this.log.warn({ jobId, err: (err as Error).message }, 'could not read job state after timeout');
    }
    throw new ApiError(504, 'TIMEOUT', `No answer within ${timeoutMs} ms; the service may be overloaded, try again`);
  }

  /**
   * A job nobody waits for any more: removed while still queued, else the worker holding it is asked
   * to stop it (a generation stops at its next step; other jobs finish and their result is dropped).
   */
  private async dropJob(jobId: string): Promise<void> {
    if (await this.removeIfWaiting(jobId)) return;
    await this.producer.publish(cancelChannel(this.queue.name), jobId).catch((err: unknown) => this.log.debug({ jobId, err: (err as Error).message }, 'could not publish a cancel'));
  }

  /** Removes a job unless a worker holds it (an active job cannot be taken back; its result is dropped). */
  async removeIfWaiting(jobId: string): Promise<boolean> {
    try {
      return (await this.queue.remove(jobId)) === 1;
    } catch (err) {
      this.log.debug({ jobId, err: (err as Error).message }, 'could not remove job');
      return false;
    }
  }


  /**
   * Closes the queue and its event reader, then the connections. Bounded: with Redis unreachable
   * BullMQ's close waits for a connection that never comes; the connections are dropped regardless.
   */
  async close(timeoutMs = 2000): Promise<void> {
    for (const p of this.pending.values()) p.settle({ error: new ApiError(503, 'SHUTTING_DOWN', 'The gateway is shutting down; try again', 1) });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.events.close(), this.queue.close()]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    for (const conn of [this.producer, this.blocking, this.subscriber]) conn.disconnect();
  }
}

/** A failed job as an HTTP error: the worker's client errors keep their status; the rest are 502. */
export function failedJobError(failedReason: string | undefined, jobId: string, log: Pick<Logger, 'error'>): ApiError {
  const client = decodeJobError(failedReason);
  if (client) return new ApiError(client.status, client.code, client.message);
  // The worker's reason may carry paths or internals: it goes to the log, not to the client.
  log.error({ jobId, failedReason }, 'job failed');
  return new ApiError(502, 'WORKER_FAILED', 'The model worker failed to process this request; try again');
}
