import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedis } from '@gpt2-int8/contract/redis';
import { startRedisServer } from './redis-server.js';

describe('startRedisServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-redis-server-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a redis-server that answers PING, logs to the file given, and stops', async () => {
    const logFile = join(dir, 'redis.log');
    const server = await startRedisServer({ dir, logFile });
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const client = createRedis(server.url, 'blocking');
    try {
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    } finally {
      client.disconnect();
    }
    await server.stop();
    expect(server.child.exitCode ?? server.child.signalCode).not.toBeNull();
    expect(readFileSync(logFile, 'utf8')).toContain('Ready to accept connections');
  });

  it('names the fix when redis-server is not installed', async () => {
    const path = process.env.PATH;
    process.env.PATH = dir;
    try {
      await expect(startRedisServer()).rejects.toThrow(/redis-server could not start \(.*ENOENT.*\); install it \(apt-get install redis-server\)/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('fails with its last output when it exits before it is ready', async () => {
    const first = await startRedisServer();
    try {
      await expect(startRedisServer({ port: first.port })).rejects.toThrow(/redis-server exited \(1\) before it was ready: [\s\S]*Address already in use/);
    } finally {
      await first.stop();
    }
  });
});
