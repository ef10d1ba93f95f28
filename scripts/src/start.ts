/**
 * `npm start`: the whole product on one machine, without Docker. Uses REDIS_URL, or starts a
 * private redis-server when nothing answers there; runs the quantizer job (a no-op when the
 * artifact is up to date); starts the gateway and WORKERS worker processes with prefixed logs;
 * stops everything cleanly on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ConfigError, EnvReader, readCommonConfig } from '@gpt2-int8/shared/config';
import { createRedis, redactRedisUrl } from '@gpt2-int8/shared/redis';
import { startRedisServer } from '@gpt2-int8/shared/redis-server';
import { WORKER_PROCESS_ENV } from '@gpt2-int8/shared/worker-process';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COLORS = [36, 35, 33, 32, 34, 31];
const children: ChildProcess[] = [];
let stopping = false;

function say(message: string): void {
  process.stdout.write(`\x1b[1m[start]\x1b[0m ${message}\n`);
}

/** Runs a process with each output line prefixed by its name, as `npm start` shows them together. */
function launch(name: string, args: string[], env: NodeJS.ProcessEnv, color: number): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `\x1b[${color}m[${name}]\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  }
  children.push(child);
  return child;
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = createRedis(url, 'producer', { retryStrategy: () => null, connectTimeout: 1000, lazyConnect: true });
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

/** A private redis-server on a free port, kept in memory only; stopAll stops it after the services. */
async function startPrivateRedis(): Promise<string> {
  const redis = await startRedisServer().catch((err: Error) => {
    throw new Error(`no Redis answers at REDIS_URL (set it to one that does), and ${err.message}`);
  });
  children.push(redis.child);
  return redis.url;
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping: letting workers and the gateway finish what they are doing');
    // Services first (they drain), Redis last.
    const services = children.filter((c) => c.spawnfile === process.execPath);
    for (const c of services) c.kill('SIGTERM');
    await Promise.all(services.map(waitForExit));
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map(waitForExit));
  }
  process.exit(code);
}

async function main(): Promise<void> {
  const env = new EnvReader();
  const common = readCommonConfig();
  const workers = env.int('WORKERS', 2, { min: 1, max: 64 });
  let redisUrl = common.redisUrl;
  if (await redisAnswers(redisUrl)) {
    say(`using Redis at ${redactRedisUrl(redisUrl)}`);
  } else {
    say(`nothing answers at ${redactRedisUrl(redisUrl)}; starting a private redis-server`);
    redisUrl = await startPrivateRedis();
    say(`private Redis at ${redisUrl}`);
  }
  const childEnv = { ...process.env, REDIS_URL: redisUrl, MODEL_DIR: common.modelDir, LOG_PRETTY: process.env.LOG_PRETTY ?? 'true' };

  say(`preparing the model in ${common.modelDir} (MODEL_SOURCE=${process.env.MODEL_SOURCE ?? 'unset: hf:distilgpt2'})`);
  const quantizer = launch('quantizer', ['services/quantizer/dist/cli.js', 'ensure', '--out', common.modelDir], childEnv, 33);
  const quantized = await waitForExit(quantizer);
  if (quantized !== 0) {
    say(`the quantizer failed (exit ${quantized}); see its messages above`);
    await stopAll(1);
  }

  const gateway = launch('gateway', ['services/gateway/dist/main.js'], childEnv, 36);
  for (let i = 1; i <= workers; i++) {
    launch(`worker-${i}`, ['services/worker/dist/main.js'], { ...childEnv, ...WORKER_PROCESS_ENV, WORKER_ID: `worker-${i}` }, COLORS[(i + 1) % COLORS.length] as number);
  }
  say(`gateway and ${workers} worker(s) starting; open http://localhost:${process.env.PORT ?? 6006} (Ctrl-C stops everything)`);
  for (const child of children) {
    child.once('exit', (code) => {
      if (!stopping && child !== quantizer) {
        say(`${child === gateway ? 'the gateway' : 'a worker'} exited (code ${code}); stopping`);
        void stopAll(code ?? 1);
      }
    });
  }
}

process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));
main().catch((err: Error) => {
  say(err instanceof ConfigError ? `configuration: ${err.message}` : `error: ${err.message}`);
  void stopAll(1);
});
