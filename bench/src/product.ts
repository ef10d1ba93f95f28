/**
 * The product as a user starts it: `npm start`'s program (scripts/dist/start.js; the bench's npm
 * script has built it) with the environment a user sets — MODEL_SOURCE, MODEL_DIR, WORKERS, PORT,
 * LOG_LEVEL — and a REDIS_URL where nothing answers, so that it starts its private redis-server as
 * on a fresh machine. Everything else (worker settings, pretty logs) is npm start's own default.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { freePort } from '@gpt2-int8/dev/free-port';
import { START_MAIN } from './paths.js';
import { manage, stopManaged, waitReady } from './processes.js';

export interface ProductOptions {
  /** A checkpoint directory (or anything MODEL_SOURCE takes); its artifact goes to `modelDir`. */
  modelSource: string;
  modelDir: string;
  workers: number;
  logLevel: string;
  /** Set over the above (e.g. NODE_OPTIONS for a profile). */
  env?: NodeJS.ProcessEnv;
}

export interface Product {
  url: string;
  /** npm start's private Redis, for looking at what the services send it. */
  redisUrl: string;
  /** The processes npm start runs (gateway, worker-1…, redis-server), by role, from /proc. */
  processes(): Map<string, number[]>;
  /** Ctrl-C's drain (SIGTERM); resolves with npm start's exit code. */
  stop(): Promise<number | null>;
}

export async function startProduct(opts: ProductOptions): Promise<Product> {
  const port = await freePort();
  const nothingThere = await freePort();
  const env = {
    ...process.env,
    MODEL_SOURCE: opts.modelSource,
    MODEL_DIR: opts.modelDir,
    WORKERS: String(opts.workers),
    PORT: String(port),
    LOG_LEVEL: opts.logLevel,
    REDIS_URL: `redis://127.0.0.1:${nothingThere}`,
    ...opts.env,
  };
  const product = manage('npm start', process.execPath, [START_MAIN], env);
  let said = '';
  let redisUrl: string | undefined;
  const readRedisUrl = (d: Buffer) => {
    said += d.toString();
    redisUrl = /private Redis at (redis:\/\/\S+)/.exec(said)?.[1];
    if (redisUrl !== undefined) product.child.stdout?.off('data', readRedisUrl);
  };
  product.child.stdout?.on('data', readRedisUrl);
  const stop = () => stopManaged(product, 30_000);
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, opts.workers, [product], 180_000);
    if (redisUrl === undefined) throw new Error('npm start did not say where its private Redis is ("private Redis at …"); was REDIS_URL answered by another Redis?');
    return { url, redisUrl, processes: () => childrenByRole(product.child.pid as number), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What a process runs, from its command line: "gateway", "worker", "redis-server" or the program's name. */
function role(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const program = argv.find((a) => a.endsWith('.js')) ?? argv[0] ?? '';
  if (program.endsWith('gateway/dist/main.js')) return 'gateway';
  if (program.endsWith('worker/dist/main.js')) return 'worker';
  // redis-server rewrites its command line to "redis-server <address>": the name is the first word.
  return program.split('/').pop()?.split(' ')[0] ?? program;
}

function childrenByRole(parent: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const r = role(Number(entry));
      out.set(r, [...(out.get(r) ?? []), Number(entry)]);
    } catch {
      // exited while listed
    }
  }
  return out;
}
