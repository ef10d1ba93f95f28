/**
 * How many jobs the worker lets BullMQ hold at once. With a concurrency above 1 BullMQ's worker loop,
 * having fetched a job, first awaits a fetch of a second one before it starts the first — an empty
 * Redis round trip (0.3–0.5 ms here) whenever jobs arrive one at a time. Micro-batching needs jobs
 * held together only when they queue up, so: 1 while they arrive one at a time, MAX_BATCH once they
 * queue — a job that waited in the queue, or one that starts right after the previous one ended
 * (BullMQ hands the next waiting job over as it records the last one's end). Decided only when the
 * worker holds no job, so a batch in progress keeps its company.
 */
export const BACK_TO_BACK_MS = 1;
/** Queue waits from this long on mean jobs are queuing (it is whole milliseconds, gateway to worker). */
export const QUEUED_MS = 3;

export class AdaptiveConcurrency {
  private held = 0;
  private lastEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxBatch: number,
    /** Applies a new concurrency (BullMQ's `worker.concurrency`). */
    private readonly apply: (concurrency: number) => void,
  ) {
    apply(1);
  }

  /** A job's processing starts at `now` (ms, monotonic) after `waitedMs` in the queue. */
  started(now: number, waitedMs: number): void {
    if (this.held === 0) this.apply(now - this.lastEnd < BACK_TO_BACK_MS || waitedMs >= QUEUED_MS ? this.maxBatch : 1);
    this.held++;
  }

  /** A job's processing ended at `now`. */
  ended(now: number): void {
    this.held--;
    this.lastEnd = now;
  }
}
