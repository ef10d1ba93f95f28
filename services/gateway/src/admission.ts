/**
 * Admission: whether a request may queue a job, decided once, before anything is queued. Refusals
 * are 503s with Retry-After, answered at once rather than after a wait that cannot succeed: the queue
 * unreachable (QUEUE_UNAVAILABLE), no worker ready to take the job (NO_WORKER), too many jobs waiting
 * already (QUEUE_FULL, past QUEUE_MAX_DEPTH).
 */
import { ApiError } from './errors/api-error.js';
import type { Jobs, Workers } from './parts.js';
import { summarize, type WorkerSummary } from './workers.js';

/** Also thrown by the job client (queue/job-client.ts) when an enqueue fails or the connection drops mid-wait. */
export const queueUnavailable = (): ApiError => new ApiError(503, 'QUEUE_UNAVAILABLE', 'The job queue is unavailable right now; try again shortly', 2);

/** How stale the queue depth used for admission may be (see depth). */
const DEPTH_MAX_AGE_MS = 50;
/** How long "some worker is ready" is believed: heartbeats are refreshed every second anyway. */
const READY_FOR_MS = 1000;

export class Admission {
  private readyUntil = 0;
  private depthCache: { at: number; depth: number } | undefined;

  constructor(
    private readonly jobs: Pick<Jobs, 'connected' | 'counts'>,
    private readonly workers: Pick<Workers, 'heartbeats'>,
    private readonly maxDepth: number,
  ) {}

  /** Resolves when a job may be queued; otherwise throws the 503 that says why not. */
  async admit(): Promise<void> {
    if (!this.jobs.connected) throw queueUnavailable();
    const unready = await this.noWorkerReady().catch(() => {
      throw queueUnavailable();
    });
    if (unready) {
      const { loading, error } = unready;
      const detail = loading + error === 0 ? 'no worker is running' : `${loading} loading, ${error} unable to serve — see /readyz`;
      throw new ApiError(503, 'NO_WORKER', `No model worker is ready yet (${detail})`, 2);
    }
    const depth = await this.depth().catch(() => {
      throw queueUnavailable();
    });
    if (depth >= this.maxDepth) throw new ApiError(503, 'QUEUE_FULL', `The service is busy (${depth} requests waiting); try again shortly`, 1);
    // The cached depth counts this gateway's own jobs since it was read.
    if (this.depthCache) this.depthCache.depth++;
  }

  /**
   * Undefined when a worker is ready, else the summary saying why none is. A "ready" answer is
   * believed for READY_FOR_MS; a "none" answer is always re-read, so a worker that just came up is
   * used at once.
   */
  private async noWorkerReady(): Promise<WorkerSummary | undefined> {
    if (Date.now() < this.readyUntil) return undefined;
    const summary = summarize(await this.workers.heartbeats());
    if (summary.ready === 0) return summary;
    this.readyUntil = Date.now() + READY_FOR_MS;
    return undefined;
  }

  /**
   * Far below the limit a depth up to DEPTH_MAX_AGE_MS old (plus this gateway's own jobs since) is
   * good enough, and saves a Redis round trip — a third of the queue hop; near the limit it is read
   * fresh, so the limit itself stays exact.
   */
  private async depth(): Promise<number> {
    const cached = this.depthCache;
    if (cached && Date.now() - cached.at <= DEPTH_MAX_AGE_MS && cached.depth < this.maxDepth / 2) return cached.depth;
    const at = Date.now();
    const depth = (await this.jobs.counts()).waiting;
    this.depthCache = { at, depth };
    return depth;
  }
}
