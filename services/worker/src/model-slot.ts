/**
 * The model jobs start on, and the switch to another one: each job runs to its end on the model that
 * was current when it started (its result names that model); a switch starts no more jobs on the old
 * model, waits for those running on it, then makes the new one current. Jobs that arrive meanwhile
 * wait for the new model: at most MAX_BATCH of them (the BullMQ Workers of this process), for as
 * long as the longest job in flight.
 *
 * BullMQ's own Worker.pause is not used for this: it drops and reconnects every blocking connection
 * (about 150 ms here), and a wake-up consumed by a Worker as it paused is lost, so a job could then
 * sit in the queue until a blocking timeout (10 s, seen with a delayed job).
 */
import type { ServedModel } from './served-model.js';

export class ModelSlot {
  /** Jobs started and not ended. While a switch drains, all of them are on the old model. */
  private jobs = 0;
  /** Set while a switch waits for the old model's jobs; resolves once the new one is current. */
  private draining: Promise<void> | undefined;

  constructor(private model: ServedModel) {}

  get current(): ServedModel {
    return this.model;
  }

  /** Jobs running now. */
  get running(): number {
    return this.jobs;
  }

  /** Runs a job on the current model (once a switch under way has made the new one current). */
  async run<T>(job: (model: ServedModel) => Promise<T>): Promise<T> {
    while (this.draining) await this.draining;
    this.jobs++;
    try {
      return await job(this.model);
    } finally {
      this.jobs--;
    }
  }

  /** Makes `next` current once no job runs on the old model; returns the old one (to release) and how long jobs were held, in ms. */
  async switchTo(next: ServedModel): Promise<{ old: ServedModel; heldMs: number }> {
    const started = performance.now();
    const old = this.model;
    let open = () => {};
    this.draining = new Promise<void>((resolve) => (open = resolve));
    try {
      while (this.jobs > 0) await new Promise((r) => setTimeout(r, 5));
      this.model = next;
    } finally {
      this.draining = undefined;
      open();
    }
    return { old, heldMs: performance.now() - started };
  }
}
