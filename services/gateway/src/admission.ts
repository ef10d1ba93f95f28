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
const DEPTH_MAX_AGE_MS = 1000;
/** How long "some worker is ready" is believed: heartbeats are refreshed every second anyway. */
const READY_FOR_MS = 1000;
/**
 * Past these ages a request still uses what is kept but has it read again in the background, so a
 * steady client never waits for these reads and the kept values stay this fresh under load.
 */
const DEPTH_REREAD_AFTER_MS = 50;
const READY_REREAD_AFTER_MS = 500;

/**
 * A read for later requests, sent after the current one's own commands: started at once, its
 * command would go to Redis ahead of the job it admits (a lone request waited for it all the same).
 * Its failure is left to the next read a request waits for.
 */
function later(read: () => Promise<unknown>): Promise<unknown> {
  return afterThisRequest().then(read).catch(() => undefined);
}

const afterThisRequest = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A read of the queue's depth, and how many jobs this gateway had admitted when it was sent. */
interface DepthRead {
  at: number;
  depth: number;
  admittedBefore: number;
}

export class Admission {
  /** When the last "a worker is ready" was read (0: never, or "none" was). */
  private readyAt = 0;
  private rereadingReady: Promise<unknown> | undefined;
  /** Jobs this gateway has admitted since it started. */
  private admitted = 0;
  private lastDepth: DepthRead | undefined;
  private readingDepth: Promise<DepthRead> | undefined;

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
    const read = await this.depthRead().catch(() => {
      throw queueUnavailable();
    });
    // Estimated and counted in one synchronous stretch: requests that waited for the same read
    // each see the ones admitted before them.
    const depth = this.estimate(read);
    if (depth >= this.maxDepth) throw new ApiError(503, 'QUEUE_FULL', `The service is busy (${depth} requests waiting); try again shortly`, 1);
    this.admitted++;
  }

  /**
   * Undefined when a worker is ready, else the summary saying why none is. A "ready" answer is
   * believed for READY_FOR_MS (re-read in the background after READY_REREAD_AFTER_MS); a "none"
   * answer is always re-read, so a worker that just came up is used at once.
   */
  private async noWorkerReady(): Promise<WorkerSummary | undefined> {
    const age = Date.now() - this.readyAt;
    if (age < READY_FOR_MS) {
      if (age > READY_REREAD_AFTER_MS) this.rereadingReady ??= later(() => this.readReady()).finally(() => (this.rereadingReady = undefined));
      return undefined;
    }
    return this.readReady();
  }

  private async readReady(): Promise<WorkerSummary | undefined> {
    const at = Date.now();
    const summary = summarize(await this.workers.heartbeats());
    this.readyAt = summary.ready === 0 ? 0 : at;
    return summary.ready === 0 ? summary : undefined;
  }

  /**
   * The depth read plus every job this gateway admitted since the read was sent (some may be in the
   * read already: counted twice until the next read, which errs on the side of the limit).
   */
  private estimate(read: DepthRead): number {
    return read.depth + (this.admitted - read.admittedBefore);
  }

  /**
   * Far below the limit a depth up to DEPTH_MAX_AGE_MS old (plus this gateway's own jobs since) is
   * good enough, and saves a Redis round trip on the request's path: a lone request after a pause
   * used to pay it every time. Past DEPTH_REREAD_AFTER_MS it is read again in the background, so
   * under load it stays that fresh. Near the limit it is read before answering.
   */
  private async depthRead(): Promise<DepthRead> {
    const last = this.lastDepth;
    if (last && this.estimate(last) < this.maxDepth / 2) {
      const age = Date.now() - last.at;
      if (age <= DEPTH_MAX_AGE_MS) {
        if (age > DEPTH_REREAD_AFTER_MS) this.readDepth(true).catch(() => undefined);
        return last;
      }
    }
    return this.readDepth(false);
  }

  /**
   * One read at a time: requests arriving while one is under way wait for it. Each sending its own
   * let a burst of 800 all see the depth from before the burst and all be admitted (736 then waited
   * out their timeout in the queue instead of a quick QUEUE_FULL).
   */
  private readDepth(inBackground: boolean): Promise<DepthRead> {
    this.readingDepth ??= (inBackground ? afterThisRequest() : Promise.resolve())
      .then(async (): Promise<DepthRead> => {
        const admittedBefore = this.admitted;
        const at = Date.now();
        const { waiting } = await this.jobs.counts();
        this.lastDepth = { at, depth: waiting, admittedBefore };
        return this.lastDepth;
      })
      .finally(() => (this.readingDepth = undefined));
    return this.readingDepth;
  }
}
