/**
 * The gateway's parts (src/parts.ts) in memory, for tests of everything but the queue: a job client
 * that answers each job at once as a worker would (the canned results of
 * test/support/fake-model.ts, streamed tokens included, failures mapped as the Redis job client maps
 * them), and workers whose heartbeats the test chooses. With `inject`, no Redis and no socket is
 * involved. Not modelled: waiting in a queue, timeouts, the queue's faults — api.test.ts and
 * faults.test.ts beside this file cover those over a real Redis.
 */
import type { FastifyInstance } from 'fastify';
import type { JobData, JobResult, WorkerHeartbeat } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { FakeJobFailure, fakeAnswer, fakeHeartbeat, writeFakeArtifact } from '../../../test/support/fake-model.js';
import { buildApp } from '../src/app.js';
import { readGatewayConfig } from '../src/config.js';
import { ClientGoneError } from '../src/errors/api-error.js';
import type { Jobs, QueueCounts, RunOptions, Workers } from '../src/parts.js';
import { failedJobError } from '../src/queue/job-client.js';

export const IN_MEMORY_WORKER = 'in-memory-worker';

export class InMemoryJobs implements Jobs {
  /** The data of every job run, in order. */
  readonly taken: JobData[] = [];
  inFlight = 0;
  connected = true;

  async run(data: JobData, opts: RunOptions): Promise<JobResult> {
    if (opts.signal?.aborted) throw new ClientGoneError('client disconnected');
    this.taken.push(data);
    this.inFlight += 1;
    // As the Redis job client: a job whose client left is dropped, and run rejects at once.
    let abort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      abort = () => reject(new ClientGoneError('client disconnected'));
    });
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      return await Promise.race([fakeAnswer(data, { worker: IN_MEMORY_WORKER, onToken: opts.onProgress }), aborted]);
    } catch (err) {
      throw err instanceof FakeJobFailure ? failedJobError(err.message, data.request_id, { error: () => undefined }) : err;
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      this.inFlight -= 1;
    }
  }

  async counts(): Promise<QueueCounts> {
    return { waiting: 0, active: this.inFlight };
  }

  async reachable(): Promise<boolean> {
    return this.connected;
  }

  async close(): Promise<void> {}
}

export interface InMemoryGateway {
  app: FastifyInstance;
  jobs: InMemoryJobs;
}

/**
 * buildApp on in-memory parts, ready for `inject`: MODEL_DIR a fake artifact unless `env` names
 * one, and one ready worker serving it unless `heartbeats` says otherwise.
 */
export async function inMemoryGateway(
  env: Record<string, string> = {},
  opts: { heartbeats?: WorkerHeartbeat[]; logger?: Logger } = {},
): Promise<InMemoryGateway> {
  const config = readGatewayConfig({ LOG_LEVEL: 'silent', LOG_PRETTY: 'false', MODEL_DIR: writeFakeArtifact(), ...env });
  const jobs = new InMemoryJobs();
  const heartbeats = opts.heartbeats ?? [fakeHeartbeat(IN_MEMORY_WORKER)];
  const workers: Workers = { heartbeats: async () => heartbeats, card: async () => null };
  const app = await buildApp({ config, jobs, workers, ...(opts.logger ? { logger: opts.logger } : {}) });
  await app.ready();
  return { app, jobs };
}
