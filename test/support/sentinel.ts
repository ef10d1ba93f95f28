/**
 * A Redis Sentinel deployment on loopback for the failover test: a master, one replica and three
 * Sentinels (Debian's redis-sentinel), each a private process on a free port, in a temporary
 * directory. Sentinel's timings are shortened (down-after-milliseconds 1 s) so a failover takes
 * seconds; docs/scaling-out.md says what they are in production.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { HostPort, RedisTarget } from '@gpt2-int8/contract/config';
import { type RedisServer, startRedisServer } from '@gpt2-int8/dev/redis-server';
import { freePort } from './redis-server.js';

export const MASTER_NAME = 'gpt2int8';
/** How long the master must be silent before a Sentinel calls it down (Redis's default is 30 s). */
export const DOWN_AFTER_MS = 1000;

export interface SentinelGroup {
  /** The env the services read: REDIS_SENTINELS and REDIS_MASTER_NAME. */
  env: Record<string, string>;
  target: RedisTarget;
  sentinels: HostPort[];
  /** The data nodes by port: the first master and its replica. */
  nodes: Map<number, RedisServer>;
  /** The master's port, as the Sentinels say now. */
  masterPort(): Promise<number>;
  /** Waits until the master has a replica in sync and every Sentinel knows the other two. */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function sentinelInstalled(): boolean {
  return spawnSync('redis-sentinel', ['--version'], { encoding: 'utf8' }).status === 0;
}

async function info(port: number, section: string): Promise<string> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.info(section);
  } finally {
    r.disconnect();
  }
}

async function sentinelCommand(s: HostPort, ...args: string[]): Promise<unknown> {
  const r = new Redis({ port: s.port, host: s.host, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.call('SENTINEL', ...args);
  } finally {
    r.disconnect();
  }
}

export async function startSentinelGroup(opts: { masterArgs?: string[] } = {}): Promise<SentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-sentinel-'));
  const nodes = new Map<number, RedisServer>();
  const sentinelServers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all([...sentinelServers, ...nodes.values()].map((s) => s.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const masterPort = await freePort();
    const dataNode = async (name: string, port: number, args: string[]) => {
      const nodeDir = join(dir, name);
      mkdirSync(nodeDir);
      const server = await startRedisServer({ port, dir: nodeDir, args, logFile: join(dir, `${name}.log`) });
      nodes.set(port, server);
    };
    // Whichever node is master, it may be told by Sentinel to replicate the other later.
    await dataNode('a', masterPort, opts.masterArgs ?? []);
    await dataNode('b', await freePort(), ['--replicaof', '127.0.0.1', String(masterPort), ...(opts.masterArgs ?? [])]);

    for (let i = 1; i <= 3; i++) {
      const configFile = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        configFile,
        [
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      sentinelServers.push(await startRedisServer({ command: 'redis-sentinel', configFile, dir, logFile: join(dir, `sentinel-${i}.log`) }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const sentinels = sentinelServers.map((s) => ({ host: '127.0.0.1', port: s.port }));

  const masterPort = async () => {
    for (const s of sentinels) {
      try {
        const addr = (await sentinelCommand(s, 'get-master-addr-by-name', MASTER_NAME)) as [string, string] | null;
        if (addr) return Number(addr[1]);
      } catch {
        // ask the next one
      }
    }
    throw new Error('no Sentinel names a master');
  };

  const settled = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const master = await masterPort();
        const repl = await info(master, 'replication');
        const synced = /connected_slaves:1/.test(repl) && /slave0:.*state=online/.test(repl);
        const known = await Promise.all(sentinels.map(async (s) => ((await sentinelCommand(s, 'sentinels', MASTER_NAME)) as unknown[]).length));
        const replicas = await Promise.all(sentinels.map(async (s) => ((await sentinelCommand(s, 'replicas', MASTER_NAME)) as unknown[]).length));
        if (synced && known.every((n) => n === 2) && replicas.every((n) => n === 1)) return;
        last = `replica in sync: ${synced}; Sentinels known to each: ${known.join(',')}; replicas known: ${replicas.join(',')}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the Sentinel group did not settle within ${timeoutMs} ms (${last})`);
  };

  const env = { REDIS_SENTINELS: sentinels.map((s) => `${s.host}:${s.port}`).join(','), REDIS_MASTER_NAME: MASTER_NAME };
  return { env, target: { url: 'redis://unused', sentinel: { sentinels, masterName: MASTER_NAME } }, sentinels, nodes, masterPort, settled, stop };
}
