/**
 * The gateway's parts (parts.ts) over Redis, for main.ts: the three connections (commands, the
 * queue's event stream, the reply channel), the job client that owns them (job-client.ts), and the
 * workers' heartbeats and model cards read with the command connection. Closing the job client
 * closes the connections; buildApp (app.ts) does so when the app closes.
 */
import type { Redis } from 'ioredis';
import { modelCardKey, workerHeartbeatPattern, type WorkerHeartbeat } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { createRedis } from '@gpt2-int8/contract/redis';
import type { GatewayConfig } from '../config.js';
import type { Jobs, Workers } from '../parts.js';
import { JobClient } from './job-client.js';

const STATES = new Set(['loading', 'ready', 'error']);

function parseHeartbeat(raw: string | null): WorkerHeartbeat | undefined {
  if (raw === null) return undefined;
  try {
    const hb = JSON.parse(raw) as Partial<WorkerHeartbeat>;
    if (typeof hb.id === 'string' && typeof hb.state === 'string' && STATES.has(hb.state)) return hb as WorkerHeartbeat;
  } catch {
    // Not ours or half-written: ignore rather than fail readiness on a stray key.
  }
  return undefined;
}

/** All live heartbeats. SCAN, not KEYS, so a big keyspace never blocks Redis. */
async function readHeartbeats(redis: Redis, queueName: string): Promise<WorkerHeartbeat[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', workerHeartbeatPattern(queueName), 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(...new Set(keys));
  return values.map(parseHeartbeat).filter((hb): hb is WorkerHeartbeat => hb !== undefined);
}

export async function createRedisParts(config: Pick<GatewayConfig, 'redis' | 'queueName'>, log: Logger): Promise<{ jobs: Jobs; workers: Workers }> {
  const producer = createRedis(config.redis, 'producer');
  const blocking = createRedis(config.redis, 'blocking');
  const subscriber = createRedis(config.redis, 'blocking');
  // ioredis emits 'error' on every failed reconnect; logged once per state change, not per retry.
  let redisDown = false;
  for (const conn of [producer, blocking, subscriber]) {
    conn.on('error', (err: Error) => {
      if (conn === producer && !redisDown) {
        redisDown = true;
        log.error({ err: err.message }, 'Redis connection lost; requests get 503 until it is back');
      }
    });
  }
  producer.on('ready', () => {
    if (redisDown) log.info('Redis connection restored');
    redisDown = false;
  });

  const jobs = await JobClient.create(config.queueName, { producer, blocking, subscriber }, log);
  const workers: Workers = {
    heartbeats: () => readHeartbeats(producer, config.queueName),
    card: (sha256) => producer.get(modelCardKey(config.queueName, sha256)),
  };
  // Start reading queue events before the first request, so none of its events can be missed.
  // Bounded: with Redis down at start-up the gateway still comes up (and answers 503) until it is back.
  if (!(await jobs.ready(2000))) log.warn('queue events not connected yet (is Redis up?); requests get 503 until it is');
  return { jobs, workers };
}
