/**
 * A stand-in for services/worker in gateway and browser tests: a real BullMQ Worker on the same
 * queue and a real heartbeat key, answering with the canned results of fake-model.ts (prompts steer
 * it as described there), so the gateway is tested over real Redis without ONNX Runtime.
 *
 * It answers through BullMQ alone (as a worker that ignores `reply_to` would: the gateway's second
 * path), or with `replies: 'channel'` on the job's reply channel alone, leaving the BullMQ job
 * unfinished (the real worker does both; each path must be enough on its own).
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { HEARTBEAT_TTL_SECONDS, decodeJobError, workerHeartbeatKey, type JobReply, type JobData, type JobResult, type StreamProgress, type WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { createRedis } from '@gpt2-int8/contract/redis';
import { FakeJobFailure, fakeAnswer, fakeHeartbeat } from './fake-model.js';

export { FAKE_MODEL, FAKE_TOKENS, writeFakeArtifact } from './fake-model.js';

export interface FakeWorkerOptions {
  redisUrl: string;
  queueName: string;
  id?: string;
  /** Pause between streamed tokens (fake-model.ts). */
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

const quiet = <T extends { on(event: 'error', fn: () => void): unknown }>(conn: T): T => {
  conn.on('error', () => undefined);
  return conn;
};

export async function startFakeWorker(opts: FakeWorkerOptions): Promise<FakeWorker> {
  const id = opts.id ?? `fake-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const jobs: JobData[] = [];
  const heartbeatRedis = createRedis(opts.redisUrl, 'blocking');
  // Tests stop Redis on purpose: reconnect errors are expected, not worth a log line each.
  heartbeatRedis.on('error', () => undefined);
  const key = workerHeartbeatKey(opts.queueName, id);
  const beat = async () => {
    const hb = fakeHeartbeat(id, opts.state, opts.reason);
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
    jobs.push(job.data);
    const onToken = (t: StreamProgress) =>
      viaChannel ? reply(job, { id: job.id as string, progress: t }) : job.updateProgress(t);
    try {
      return await fakeAnswer(job.data, { worker: id, tokenDelayMs: opts.tokenDelayMs, onToken });
    } catch (err) {
      // As the worker does: a failed job is unrecoverable (no retry), its reason the message.
      throw err instanceof FakeJobFailure ? new UnrecoverableError(err.message) : err;
    }
  };

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
