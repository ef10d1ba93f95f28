/**
 * Micro-batching: callers submit one item each; the batcher runs waiting items together through one
 * batched call. A lone item is never held back: when the last batch ran alone, the next item starts
 * at once (after the current event-loop turn, so items that arrive together still go together).
 * Only when there is evidence of load — the last batch had company — does a new batch wait up to
 * `windowMs` for more, and a full batch never waits. Items that arrive while a batch runs go in the
 * next batch as soon as it finishes.
 */
export interface BatcherOptions<I, O> {
  maxBatch: number;
  windowMs: number;
  /** Runs one batch; must return one output per item, in order. */
  run: (items: I[]) => Promise<O[]>;
}

interface Waiting<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export class Batcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private running = false;
  private loaded = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly sizes: number[] = [];

  constructor(private readonly opts: BatcherOptions<I, O>) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    if (!(opts.windowMs >= 0)) throw new RangeError(`windowMs must be >= 0, got ${opts.windowMs}`);
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a batch (not counting a batch that is running). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Sizes of the batches run so far (most recent last, at most 1000 kept): for logs and tests. */
  get batchSizes(): readonly number[] {
    return this.sizes;
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queue.length >= this.opts.maxBatch) {
      this.flush();
      return;
    }
    if (this.loaded && this.opts.windowMs > 0) {
      this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
    } else {
      this.immediate ??= setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.running = true;
    this.sizes.push(batch.length);
    if (this.sizes.length > 1000) this.sizes.shift();
    void this.execute(batch);
  }

  private async execute(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const outs = await this.opts.run(batch.map((w) => w.item));
      if (outs.length !== batch.length) throw new Error(`batch run returned ${outs.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(outs[i] as O));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.running = false;
      this.loaded = batch.length > 1 || this.queue.length > 0;
      // Whatever arrived meanwhile has waited long enough: run it now.
      if (this.queue.length > 0) this.immediate ??= setImmediate(() => this.flush());
    }
  }
}
