/**
 * The worker's presence in Redis: a key refreshed every second with a TTL, saying whether the model
 * is loading, ready or in error (and why). The gateway's /readyz and /metrics read these keys; a
 * worker that dies simply stops refreshing and disappears within HEARTBEAT_TTL_SECONDS. Beside it,
 * the card of the model it serves (shared/job.ts modelCardKey), refreshed and expiring the same way.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { type GenerationStats, HEARTBEAT_TTL_SECONDS, modelCardKey, type ModelCard, type WorkerHeartbeat, workerHeartbeatKey } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';

const REPORT_AFTER_FAILURES = 3;

export type HeartbeatState = Pick<WorkerHeartbeat, 'state' | 'reason' | 'model' | 'swap'>;

export class Heartbeat {
  private current: HeartbeatState = { state: 'loading' };
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The served model's card: whose (INT8 sha256), its key and JSON. */
  private card: { sha256: string; key: string; json: string } | undefined;
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
    private readonly workerId: string,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {
    this.key = workerHeartbeatKey(queueName, workerId);
  }

  /** Starts beating (at once, then every interval). */
  start(): void {
    if (this.timer) return;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  /** Changes the state and publishes it at once; with a card, the model's card from now on. */
  set(state: HeartbeatState, card?: ModelCard): Promise<void> {
    this.current = state;
    const sha256 = state.model?.sha256;
    if (card !== undefined && sha256 !== undefined) this.card = { sha256, key: modelCardKey(this.queueName, sha256), json: JSON.stringify(card) };
    return this.beat();
  }

  /** Changes part of the state (e.g. the swap note while serving) and publishes it at once. */
  update(change: Partial<HeartbeatState>): Promise<void> {
    return this.set({ ...this.current, ...change });
  }

  get state(): HeartbeatState {
    return this.current;
  }

  /** Figures to add to every beat while serving (continuous batching's). */
  stats: (() => GenerationStats | undefined) | undefined;

  body(): WorkerHeartbeat {
    const generation = this.current.state === 'ready' ? this.stats?.() : undefined;
    return { id: this.workerId, ...this.current, ...(generation ? { generation } : {}), pid: process.pid, host: hostname(), at: Date.now() };
  }

  /** Stops beating and removes the key, so the worker leaves the gateway's view at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.redis.del(this.key);
    } catch {
      // Redis is gone: the key expires by itself.
    }
  }

  private async beat(): Promise<void> {
    try {
      // Only while serving that very model: a card is what a ready worker answers with.
      const card = this.current.state === 'ready' && this.current.model?.sha256 === this.card?.sha256 ? this.card : undefined;
      await Promise.all([
        this.redis.set(this.key, JSON.stringify(this.body()), 'EX', HEARTBEAT_TTL_SECONDS),
        card && this.redis.set(card.key, card.json, 'EX', HEARTBEAT_TTL_SECONDS),
      ]);
      if (this.failures >= REPORT_AFTER_FAILURES) this.logger.info('heartbeat: Redis reachable again');
      this.failures = 0;
    } catch (err) {
      // Once per outage, and not for the moment it takes to connect at start-up.
      if (++this.failures === REPORT_AFTER_FAILURES) this.logger.warn({ err: (err as Error).message }, 'heartbeat: cannot reach Redis; retrying every second');
    }
  }
}
