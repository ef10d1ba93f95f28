/**
 * The jobs of this worker that can be stopped, by job id: a gateway publishes on cancelChannel
 * (shared/contract/src/job.ts) the id of a job nobody waits for any more, and its generation stops
 * at its next step.
 */
export class Cancellations {
  private readonly open = new Map<string, AbortController>();
  /** Jobs cancelled since start (for metrics). */
  cancelled = 0;

  /** A signal aborted when `jobId` is cancelled; `close` it when the job ends. */
  watch(jobId: string): { signal: AbortSignal; close: () => void } {
    const controller = new AbortController();
    this.open.set(jobId, controller);
    return { signal: controller.signal, close: () => this.open.get(jobId) === controller && this.open.delete(jobId) };
  }

  /** Cancels `jobId` if this worker is running it; true when it was. */
  cancel(jobId: string): boolean {
    const controller = this.open.get(jobId);
    if (controller === undefined || controller.signal.aborted) return false;
    controller.abort();
    this.cancelled++;
    return true;
  }

  get size(): number {
    return this.open.size;
  }
}
