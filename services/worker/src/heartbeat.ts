/**
 * The worker's presence in Redis: a key refreshed every second with a TTL, saying whether the model
 * is loading, ready or in error (and why). The gateway's /readyz and /metrics read these keys; a
 * worker that dies simply stops refreshing and disappears within HEARTBEAT_TTL_SECONDS.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { HEARTBEAT_TTL_SECONDS, type WorkerHeartbeat, workerHeartbeatKey } from '@gpt2-int8/shared/job';
import type { Logger } from '@gpt2-int8/shared/logger';

const REPORT_AFTER_FAILURES = 3;

export type HeartbeatState = Pick<WorkerHeartbeat, 'state' | 'reason' | 'model'>;

export class Heartbeat {
  private current: HeartbeatState = { state: 'loading' };
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    queueName: string,
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

  /** Changes the state and publishes it at once. */
  set(state: HeartbeatState): Promise<void> {
    this.current = state;
    return this.beat();
  }

  get state(): HeartbeatState {
    return this.current;
  }

  body(): WorkerHeartbeat {
    return { id: this.workerId, ...this.current, pid: process.pid, host: hostname(), at: Date.now() };
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
      await this.redis.set(this.key, JSON.stringify(this.body()), 'EX', HEARTBEAT_TTL_SECONDS);
      if (this.failures >= REPORT_AFTER_FAILURES) this.logger.info('heartbeat: Redis reachable again');
      this.failures = 0;
    } catch (err) {
      // Once per outage, and not for the moment it takes to connect at start-up.
      if (++this.failures === REPORT_AFTER_FAILURES) this.logger.warn({ err: (err as Error).message }, 'heartbeat: cannot reach Redis; retrying every second');
    }
  }
}
