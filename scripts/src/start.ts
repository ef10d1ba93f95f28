/**
 * `npm start`: the whole product on one machine, without Docker. Uses REDIS_URL (or Sentinel, when
 * REDIS_SENTINELS is set), or starts a private redis-server when nothing answers at REDIS_URL; runs
 * the quantizer job (a no-op when the artifact is up to date); then supervises the gateway and
 * WORKERS worker processes (restarted when they die, scripts/src/supervisor/supervisor.ts). Ctrl-C
 * drains in the order that lets every request finish: the gateway first (it answers what it holds
 * while the workers still serve), then the workers, then the private Redis; so does closing its
 * terminal (SIGHUP). A second Ctrl-C stops everything at once. Killed or crashed itself, it leaves
 * nothing behind: the services drain and exit on their own, and the private Redis stops with it.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, EnvReader, readCommonConfig, type RedisTarget } from '@gpt2-int8/contract/config';
import { createRedis, describeRedis, redactRedisUrl } from '@gpt2-int8/contract/redis';
import { type RedisServer, startRedisServer } from '@gpt2-int8/dev/redis-server';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/contract/worker-process';
import { type ServiceSpec, spawnService } from './supervisor/spawn-service.js';
import { onStopSignals } from './supervisor/stop-signals.js';
import { describeExit, Supervisor } from './supervisor/supervisor.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COLORS = [36, 35, 33, 32, 34, 31];

// Once its terminal is closed (EIO) or the reader of its pipe is gone (EPIPE), the drain goes on unseen.
process.stdout.on('error', () => undefined);

function say(message: string): void {
  process.stdout.write(`\x1b[1m[start]\x1b[0m ${message}\n`);
}

async function redisAnswers(target: RedisTarget | string): Promise<boolean> {
  const redis = createRedis(target, 'producer', { retryStrategy: () => null, connectTimeout: 1000, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Ends the private Redis when this process ends without stopping it (SIGKILL, a crash), as the
 * gateway and workers do on their own (shared/contract/src/supervision.ts): else it would live on,
 * an orphan holding its port. The kernel's parent-death signal, through util-linux's setpriv (on
 * every Debian machine); without setpriv, Redis is started as it is.
 */
function stopsWithThisProcess(): string[] {
  const found = (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, 'setpriv')));
  return found ? ['setpriv', '--pdeathsig', 'SIGTERM', '--'] : [];
}

let privateRedis: RedisServer | undefined;
let quantizer: ChildProcess | undefined;
const workerNames: string[] = [];
let draining = false;

const supervisor = new Supervisor({
  launch: (spec) => spawnService(spec, ROOT),
  say,
  onCannotStart: (name, how) => {
    say(`${name} could not start (it ${how}); see its messages above`);
    void drain(1);
  },
  onGiveUp: (name) => {
    if (name === 'gateway') {
      say('without the gateway nothing can be served; stopping');
      void drain(1);
    } else if (workerNames.every((w) => !supervisor.running().includes(w))) {
      say('no worker is left: the gateway answers 503 (see /readyz) until the cause is fixed and npm start runs again');
    }
  },
});

/** Gateway first, so the requests it holds are answered by workers still serving; Redis last. */
async function drain(code: number): Promise<never> {
  if (!draining) {
    draining = true;
    quantizer?.kill('SIGTERM');
    await supervisor.stop(['gateway']);
    if (workerNames.length > 0) say('gateway stopped; the workers finish their jobs');
    await supervisor.stop(workerNames);
    if (privateRedis) {
      say('stopping the private Redis');
      await privateRedis.stop();
    }
    say('stopped');
    process.exit(code);
  }
  return new Promise<never>(() => undefined);
}

onStopSignals({
  drain: (signal) => {
    say(`${signal}: draining — the gateway answers the requests it holds, then the workers and Redis stop (Ctrl-C again stops at once)`);
    void drain(0);
  },
  force: (signal) => {
    say(`${signal} again: stopping everything now`);
    quantizer?.kill('SIGKILL');
    privateRedis?.child.kill('SIGKILL');
    void supervisor.stop(supervisor.names(), 'SIGKILL').then(() => process.exit(130));
  },
});

async function main(): Promise<void> {
  const env = new EnvReader();
  const common = readCommonConfig();
  const workers = env.int('WORKERS', 2, { min: 1, max: 64 });
  let redisUrl = common.redis.url;
  if (common.redis.sentinel) {
    // Through Sentinel the master moves; a private redis-server would be another Redis altogether.
    if (!(await redisAnswers(common.redis))) throw new Error(`no Redis answers as the ${describeRedis(common.redis)} (npm start starts a private Redis only when REDIS_SENTINELS is unset)`);
    say(`using Redis: the ${describeRedis(common.redis)}`);
  } else if (await redisAnswers(redisUrl)) {
    say(`using Redis at ${redactRedisUrl(redisUrl)}`);
  } else {
    say(`nothing answers at ${redactRedisUrl(redisUrl)}; starting a private redis-server`);
    privateRedis = await startRedisServer({ detached: true, wrapper: stopsWithThisProcess() }).catch((err: Error) => {
      throw new Error(`no Redis answers at REDIS_URL (set it to one that does), and ${err.message}`);
    });
    redisUrl = privateRedis.url;
    say(`private Redis at ${redisUrl}`);
  }
  if (draining) return;
  const childEnv = { ...process.env, REDIS_URL: redisUrl, MODEL_DIR: common.modelDir, LOG_PRETTY: process.env.LOG_PRETTY ?? 'true' };

  say(`preparing the model in ${common.modelDir} (MODEL_SOURCE=${process.env.MODEL_SOURCE ?? 'unset: hf:distilgpt2'})`);
  quantizer = spawnService({ name: 'quantizer', args: ['services/quantizer/dist/cli.js', 'ensure', '--out', common.modelDir], env: childEnv, color: 33 }, ROOT);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => quantizer?.once('exit', (c, s) => resolve([c, s])));
  quantizer = undefined;
  if (draining) return;
  if (code !== 0) {
    say(`the quantizer ${describeExit(code, signal)}; see its messages above`);
    await drain(1);
  }

  const specs: ServiceSpec[] = [{ name: 'gateway', args: ['services/gateway/dist/main.js'], env: childEnv, color: 36 }];
  for (let i = 1; i <= workers; i++) {
    const name = `worker-${i}`;
    workerNames.push(name);
    specs.push({ name, args: ['services/worker/dist/main.js'], env: { ...childEnv, ...WORKER_PROCESS_ENV, WORKER_ID: name }, color: COLORS[(i + 1) % COLORS.length] as number });
  }
  for (const spec of specs) supervisor.start(spec);
  say(`gateway and ${workers} ${workers === 1 ? 'worker' : 'workers'} starting; open http://localhost:${process.env.PORT ?? 6006} once the gateway says it is listening (Ctrl-C stops everything)`);
}

main().catch((err: Error) => {
  say(err instanceof ConfigError ? `configuration: ${err.message}` : `error: ${err.message}`);
  void drain(1);
});
