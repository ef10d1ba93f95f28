import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection from REDIS_URL (redis:// or rediss:// for TLS; a password in the URL is used).
 * `blocking` connections (BullMQ workers, QueueEvents) must retry commands forever; a producer's
 * connection instead fails commands at once while Redis is down, so requests get a fast 503
 * rather than waiting out their timeout.
 */
export function createRedis(url: string, role: 'blocking' | 'producer', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'blocking' ? null : 1,
    enableOfflineQueue: role === 'blocking',
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
