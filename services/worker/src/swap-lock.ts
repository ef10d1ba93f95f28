/**
 * The fleet's model-swap lock (shared/job.ts modelSwapLockKey): one worker of a queue swaps models
 * at a time, so the others keep serving and capacity never drops to zero. A plain Redis key with a
 * TTL, refreshed by its holder while it swaps: a worker that dies mid-swap stops refreshing and the
 * next one takes over within LOCK_TTL_MS, instead of the fleet waiting forever.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { modelSwapLockKey } from '@gpt2-int8/contract/job';

/** Long enough to survive a missed refresh or two, short enough that a dead holder is not waited for long. */
export const LOCK_TTL_MS = 15_000;
const REFRESH_MS = 5_000;

// Only the holder (its own random token) may extend or delete the key: after an expiry another
// worker may hold it, and a late refresh or release must not touch that one.
const REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export interface SwapLockOptions {
  /** How often to try again while another worker holds it. */
  pollMs: number;
  signal: AbortSignal;
  /** Called once when the lock is taken by someone else, with the holder's name. */
  onWait?: (holder: string) => void;
}

export interface HeldSwapLock {
  release(): Promise<void>;
}

/** Waits for the queue's swap lock and takes it. Throws when aborted or when Redis fails. */
export async function acquireSwapLock(redis: Redis, queueName: string, workerId: string, opts: SwapLockOptions): Promise<HeldSwapLock> {
  const key = modelSwapLockKey(queueName);
  const token = `${workerId}:${randomBytes(6).toString('hex')}`;
  let announced = false;
  for (;;) {
    opts.signal.throwIfAborted();
    if ((await redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) === 'OK') break;
    if (!announced) {
      announced = true;
      const holder = await redis.get(key).catch(() => null);
      opts.onWait?.(holder?.replace(/:[0-9a-f]+$/, '') ?? 'another worker');
    }
    await sleep(opts.pollMs, undefined, { signal: opts.signal });
  }
  const timer = setInterval(() => void redis.eval(REFRESH, 1, key, token, LOCK_TTL_MS).catch(() => undefined), REFRESH_MS);
  timer.unref();
  return {
    release: async () => {
      clearInterval(timer);
      // Redis away: the key expires by itself.
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    },
  };
}
