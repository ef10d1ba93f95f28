import { Redis, type RedisOptions } from 'ioredis';

/**
 * How long a producer command may go unanswered. A Redis that is down refuses connections and fails
 * commands at once; one that hangs (a stopped process, a lost network path) keeps the TCP
 * connection open and answers nothing, and without this a request would wait for it forever.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 2000;

/**
 * A Redis connection from REDIS_URL (redis:// or rediss:// for TLS; a password in the URL is used).
 * `blocking` connections (BullMQ workers, QueueEvents) must retry commands forever; a producer's
 * connection instead fails commands at once while Redis is down, and after
 * PRODUCER_COMMAND_TIMEOUT_MS while it hangs, so requests get a fast 503 rather than waiting out
 * their timeout (or forever).
 */
export function createRedis(url: string, role: 'blocking' | 'producer', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'blocking' ? null : 1,
    enableOfflineQueue: role === 'blocking',
    ...(role === 'producer' ? { commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS } : {}),
    connectTimeout: 5000,
    // Reconnect quickly and keep trying: a restarted Redis is picked up without restarting Node.
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: false,
    ...extra,
  });
}

/** Redis URL with any password replaced, for logs and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://<invalid url>';
  }
}
