import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { freePort } from './free-port.js';

/** What each program prints once it serves: a Sentinel, once it monitors its master. */
const READY_LINES = { 'redis-server': 'Ready to accept connections', 'redis-sentinel': '+monitor master' } as const;
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 10_000;

export interface RedisServerOptions {
  /** Default: a free loopback port. */
  port?: number;
  /** Its working directory (`--dir`). */
  dir?: string;
  /** A file that gets everything it prints; without one only the last few KB are kept, for errors. */
  logFile?: string;
  /**
   * More redis-server options. They come last because redis-server takes the last value of a
   * repeated option, so they can override the defaults (`--appendonly yes`, `--port 0` for TLS only).
   */
  args?: string[];
  /** In a process group of its own, so a terminal's Ctrl-C does not reach it (scripts/src/start.ts stops it last). */
  detached?: boolean;
  /** redis-server (default), or redis-sentinel (which needs `configFile`). */
  command?: keyof typeof READY_LINES;
  /** A configuration file, given first; a Sentinel rewrites its own, so it must be writable. */
  configFile?: string;
  /** The address it binds to and `url` names (default 127.0.0.1). */
  host?: string;
  /** A command it runs under, e.g. ['ip', 'netns', 'exec', NAME] to run it in a network namespace. */
  wrapper?: string[];
}

export interface RedisServer {
  /** redis://<host>:<port> */
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Sends `signal` (SIGKILL if SIGTERM has not stopped it within 10 s); resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Killed when this process exits, however it exits, so that an interrupted run leaves no orphan servers. */
const running = new Set<ChildProcess>();
let exitHooked = false;

function killOnExit(child: ChildProcess): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
  // 'close' rather than 'exit': a server that never spawned only closes.
  child.once('close', () => running.delete(child));
}

/**
 * Starts a private redis-server on loopback that keeps nothing on disk (unless `args` say so), and
 * resolves once it accepts connections: isolated from any Redis the machine already runs.
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const host = opts.host ?? '127.0.0.1';
  const command = opts.command ?? 'redis-server';
  const readyLine = READY_LINES[command];
  const args = [
    ...(opts.configFile ? [opts.configFile] : []),
    ...['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', ...(opts.dir ? ['--dir', opts.dir] : []), ...(opts.args ?? [])],
  ];
  const [program, ...argv] = [...(opts.wrapper ?? []), command, ...args] as [string, ...string[]];
  const child = spawn(program, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  killOnExit(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  // Always read its output: a full pipe would block the server.
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (opts.logFile) {
    const log = createWriteStream(opts.logFile);
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('close', () => log.end());
  }

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (!err) return resolve();
      child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => settle(new Error(`${command} was not ready within ${START_TIMEOUT_MS / 1000} s: ${tail.slice(-500)}`)), START_TIMEOUT_MS);
    const onData = () => {
      if (tail.includes(readyLine)) settle();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => settle(new Error(`${command} exited (${code ?? signal}) before it was ready: ${tail.slice(-500)}`));
    child.stdout.on('data', onData);
    child.on('exit', onExit);
    // Stays attached: a ChildProcess 'error' without a listener (a failed kill, later) would throw.
    child.on('error', (err) => settle(new Error(`${program} could not start (${err.message}); install it (apt-get install ${program === 'ip' ? 'iproute2' : command})`)));
  });

  return {
    url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    child,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(escalate);
    },
  };
}
