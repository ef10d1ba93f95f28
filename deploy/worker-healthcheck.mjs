// @ts-check
/**
 * The worker image's HEALTHCHECK. A worker has no HTTP port: its sign of life is the heartbeat it
 * writes to Redis every second (services/worker/src/heartbeat.ts, a key with a 5 s TTL). This
 * check passes only when this container's worker is really serving:
 *   - a heartbeat key exists for a worker on this host (the container's hostname; or exactly
 *     WORKER_ID when that is set) whose process is alive here,
 *   - it was refreshed within the TTL (so the event loop is turning and Redis is reachable),
 *   - and it says 'ready' (the model is loaded and verified; 'error' carries the reason, printed).
 * It prints one line (Docker keeps it in `docker inspect`) and exits 0 (healthy) or 1.
 * Run it by hand inside a container: `node deploy/worker-healthcheck.mjs`.
 *
 * With `--alive` (Kubernetes' livenessProbe, deploy/k8s/base/worker.yaml) it asks less: that the
 * worker is alive — a fresh heartbeat in any state, so one still waiting for the quantizer or
 * refusing a bad artifact is not restarted (the worker retries by itself). When Redis does not
 * answer it cannot judge and passes: restarting every worker because Redis is away helps nobody.
 */
import { hostname } from 'node:os';
import { readCommonConfig } from '@gpt2-int8/contract/config';
import { HEARTBEAT_TTL_SECONDS, workerHeartbeatKey, workerHeartbeatPattern } from '@gpt2-int8/contract/job';
import { createRedis, describeRedis } from '@gpt2-int8/contract/redis';

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
  }
}

/** @param {string} message @param {number} code */
function finish(message, code) {
  process.stdout.write(`${message}\n`);
  process.exit(code);
}

const aliveOnly = process.argv.includes('--alive');
const config = readCommonConfig();
const workerId = process.env.WORKER_ID?.trim() || undefined;
const host = hostname();
const redis = createRedis(config.redis, 'blocking', { connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
redis.on('error', () => {});
/** Redis away: not healthy, but no reason to think the worker is dead. */
const redisAway = (/** @type {string} */ why) => (aliveOnly ? finish(`alive (cannot tell: ${why})`, 0) : finish(`unhealthy: ${why}`, 1));
setTimeout(() => redisAway(`no answer from Redis (${describeRedis(config.redis)}) within 4 s`), 4000).unref();

try {
  const keys = [];
  if (workerId) keys.push(workerHeartbeatKey(config.queueName, workerId));
  else {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', workerHeartbeatPattern(config.queueName), 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  const beats = (await Promise.all(keys.map((k) => redis.get(k))))
    .flatMap((raw) => {
      try {
        return raw ? [/** @type {import('@gpt2-int8/contract/job').WorkerHeartbeat} */ (JSON.parse(raw))] : [];
      } catch {
        return [];
      }
    })
    .filter((b) => (workerId ? b.id === workerId : b.host === host) && alive(b.pid));
  redis.disconnect();
  const who = workerId ? `worker ${workerId}` : `a worker on ${host}`;
  if (beats.length === 0) finish(`unhealthy: no heartbeat from ${who} in Redis (queue ${config.queueName})`, 1);
  const fresh = beats.filter((b) => Date.now() - b.at <= HEARTBEAT_TTL_SECONDS * 1000);
  if (aliveOnly && fresh.length > 0) finish(`alive: worker ${fresh[0]?.id} is ${fresh[0]?.state}`, 0);
  const ready = fresh.find((b) => b.state === 'ready');
  if (ready) finish(`healthy: worker ${ready.id} ready (model ${ready.model?.sha256.slice(0, 12) ?? '?'})`, 0);
  const latest = (fresh.length > 0 ? fresh : beats).sort((a, b) => b.at - a.at)[0];
  finish(`unhealthy: worker ${latest?.id} is ${fresh.length > 0 ? latest?.state : 'silent'}${latest?.reason ? `: ${latest.reason}` : ''}`, 1);
} catch (err) {
  redisAway(`cannot read heartbeats from Redis (${describeRedis(config.redis)}): ${/** @type {Error} */ (err).message}`);
}
