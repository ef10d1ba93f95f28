/**
 * Reaching Redis through Sentinel: REDIS_SENTINELS, REDIS_MASTER_NAME and REDIS_SENTINEL_PASSWORD
 * as read by readCommonConfig, and the ioredis options createRedis builds from them (with
 * REDIS_URL's credentials, TLS and database). Nothing connects here: connections are lazy.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, readCommonConfig } from './config.js';
import { createRedis, describeRedis } from './redis.js';

describe('readCommonConfig: where Redis is', () => {
  it('REDIS_URL alone, as before', () => {
    expect(readCommonConfig({}).redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(readCommonConfig({ REDIS_URL: 'rediss://:pw@r.example:6380/2' }).redis).toEqual({ url: 'rediss://:pw@r.example:6380/2' });
  });

  it('Sentinel: the list, the master name and the Sentinels own password', () => {
    const redis = readCommonConfig({ REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381', REDIS_MASTER_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'spw', REDIS_URL: 'redis://:pw@ignored' }).redis;
    expect(redis).toEqual({
      url: 'redis://:pw@ignored',
      sentinel: { sentinels: [{ host: 's1', port: 26379 }, { host: '10.0.0.2', port: 26380 }, { host: '::1', port: 26381 }], masterName: 'mymaster', password: 'spw' },
    });
  });

  it.each([
    [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_MASTER_NAME'],
    [{ REDIS_MASTER_NAME: 'mymaster' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINEL_PASSWORD: 'x' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's1', REDIS_MASTER_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's1:0', REDIS_MASTER_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's1:26379,s2:99999', REDIS_MASTER_NAME: 'm' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 'redis://s1:26379', REDIS_MASTER_NAME: 'm' }, 'REDIS_SENTINELS'],
  ])('refuses %j, naming %s', (env, name) => {
    expect(() => readCommonConfig(env)).toThrow(ConfigError);
    expect(() => readCommonConfig(env)).toThrow(name);
  });
});

describe('createRedis', () => {
  const sentinel = { sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], masterName: 'mymaster' };

  it('through Sentinel: the master by name, with the URL credentials and database; no host from the URL', () => {
    const r = createRedis({ url: 'redis://app:p%40ss@ignored:1/3', sentinel: { ...sentinel, password: 'spw' } }, 'producer', { lazyConnect: true });
    expect(r.options).toMatchObject({ name: 'mymaster', sentinels: sentinel.sentinels, username: 'app', password: 'p@ss', db: 3, sentinelPassword: 'spw', failoverDetector: false, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    expect(r.options.tls).toBeUndefined();
    expect(r.options.enableTLSForSentinelMode).toBeFalsy();
    r.disconnect();
  });

  it('rediss:// through Sentinel means TLS to the Sentinels and to the master', () => {
    const r = createRedis({ url: 'rediss://:pw@x', sentinel }, 'blocking', { lazyConnect: true });
    expect(r.options).toMatchObject({ tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true, password: 'pw', maxRetriesPerRequest: null });
    r.disconnect();
  });

  it('a caller that gives up reconnecting also gives up on unreachable Sentinels', () => {
    const never = () => null;
    const r = createRedis({ url: 'redis://x', sentinel }, 'producer', { lazyConnect: true, retryStrategy: never });
    expect(r.options.sentinelRetryStrategy).toBe(never);
    r.disconnect();
  });

  it('describes a target without its passwords', () => {
    expect(describeRedis({ url: 'redis://:secret@r:6379' })).not.toContain('secret');
    const d = describeRedis({ url: 'rediss://:secret@x', sentinel: { sentinels: [{ host: '::1', port: 26379 }, { host: 's2', port: 1 }], masterName: 'mymaster', password: 'spw' } });
    expect(d).toBe('master "mymaster" through Sentinel [::1]:26379,s2:1 over TLS');
  });
});
