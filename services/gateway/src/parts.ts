/**
 * What buildApp (app.ts) is built from, as interfaces: the job queue and what the workers say about
 * themselves. main.ts hands in the Redis-backed parts (queue/redis-parts.ts); tests hand in
 * in-memory ones (test/in-memory-parts.ts), so all but the queue itself is tested without a Redis.
 */
import type { JobData, JobResult, StreamProgress, WorkerHeartbeat } from '@gpt2-int8/contract/job';

export interface RunOptions {
  timeoutMs: number;
  /** Aborted when the client disconnects: a job still waiting is removed. */
  signal?: AbortSignal;
  onProgress?: (progress: StreamProgress) => void;
}

export interface QueueCounts {
  /** Jobs not yet taken by a worker. */
  waiting: number;
  /** Jobs a worker is processing. */
  active: number;
}

export interface Jobs {
  /** Queues a job and waits (bounded) for its result. Throws ApiError (mapped for HTTP) or ClientGoneError. */
  run(data: JobData, opts: RunOptions): Promise<JobResult>;
  counts(): Promise<QueueCounts>;
  /** Requests of this gateway waiting for a job result. */
  readonly inFlight: number;
  /** The queue's connection is up, as last seen (no round trip): admission.ts refuses at once when not. */
  readonly connected: boolean;
  /** The queue's store answers within `timeoutMs` (one round trip): GET /readyz. */
  reachable(timeoutMs: number): Promise<boolean>;
  /** Ends the waits in flight (503) and lets go of the connections; app.ts calls it when the app closes. */
  close(): Promise<void>;
}

export interface Workers {
  /** Every live heartbeat (shared/contract/src/job.ts WorkerHeartbeat); rejects when they cannot be read. */
  heartbeats(): Promise<WorkerHeartbeat[]>;
  /** The raw card of the model with this INT8 sha256 (shared/contract/src/job.ts ModelCard), or null. */
  card(sha256: string): Promise<string | null>;
}
