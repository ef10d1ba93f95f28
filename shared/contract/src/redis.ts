import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './config.js';

/**
 * How long a producer command may go unanswered. A Redis that is down refuses connections and fails
 * commands at once; one that hangs (a stopped process, a lost network path) keeps the TCP
 * connection open and answers nothing, and without this a request would wait for it forever.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 2000;

/**
 * A Redis connection: to REDIS_URL (redis:// or rediss:// for TLS; a password in the URL is used),
 * or, with Sentinel configured (shared/contract/src/config.ts RedisTarget), to the master the Sentinels name,
 * with REDIS_URL's credentials, TLS and database. After a failover ioredis asks the Sentinels again
 * on its next reconnect, so the services follow a promoted replica without a restart.
 *
 * `blocking` connections (BullMQ workers, QueueEvents) must retry commands forever; a producer's
 * connection instead fails commands at once while Redis is down, and after
 * PRODUCER_COMMAND_TIMEOUT_MS while it hangs, so requests get a fast 503 rather than waiting out
 * their timeout (or forever).
 */
export function createRedis(target: RedisTarget | string, role: 'blocking' | 'producer', extra: RedisOptions = {}): Redis {
  // Reconnect quickly and keep trying: a restarted Redis is picked up without restarting Node.
  const retryStrategy = extra.retryStrategy ?? ((times: number) => Math.min(100 * times, 2000));
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'blocking' ? null : 1,
    enableOfflineQueue: role === 'blocking',
    ...(role === 'producer' ? { commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS } : {}),
    connectTimeout: 5000,
    retryStrategy,
    lazyConnect: false,
    ...extra,
  };
  const { url, sentinel } = typeof target === 'string' ? { url: target, sentinel: undefined } : target;
  if (sentinel === undefined) return new Redis(url, options);
  const u = new URL(url);
  const tls = u.protocol === 'rediss:';
  const db = u.pathname.replace(/^\//, '');
  return new Redis({
    sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
    name: sentinel.masterName,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(/^\d+$/.test(db) ? { db: Number(db) } : {}),
    ...(sentinel.password !== undefined ? { sentinelPassword: sentinel.password } : {}),
    // rediss: means TLS to the Sentinels and to the master, verified against Node's CA store
    // (NODE_EXTRA_CA_CERTS for a private CA), as for REDIS_URL alone.
    ...(tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    // When every Sentinel is unreachable: the same pace, and the same giving up, as reconnecting.
    sentinelRetryStrategy: retryStrategy,
    // No failoverDetector: its +switch-master handler, left subscribed by the connection that died,
    // can fire while ioredis is reconnecting, and that makes the reconnect fail for good (status
    // "end"; seen in test/reliability/sentinel-failover.test.ts: a worker that never served again).
    // It is not needed to leave a demoted master: Sentinel kills the clients of an instance it turns
    // into a replica, and a reconnect asks the Sentinels again.
    failoverDetector: false,
    ...options,
  });
}

/** Where a target points, without passwords, for logs and error messages. */
export function describeRedis(target: RedisTarget | string): string {
  if (typeof target === 'string' || target.sentinel === undefined) return redactRedisUrl(typeof target === 'string' ? target : target.url);
  const { sentinels, masterName } = target.sentinel;
  const tls = target.url.startsWith('rediss:') ? ' over TLS' : '';
  return `master "${masterName}" through Sentinel ${sentinels.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',')}${tls}`;
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
