import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@gpt2-int8/shared/free-port';

export { freePort };

export interface PrivateRedis {
  /** redis://127.0.0.1:<port> (rediss:// with TLS; with the password in it when there is one). */
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (for reconnect tests). */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open but answers nothing (a hung host). */
  pause(): void;
  resume(): void;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/**
 * Starts a private redis-server on a free loopback port for one test file: isolated from the
 * machine's Redis, and the fault tests can stop and restart it.
 */
/** redis-servers still running; killed when the test process exits, so a failed test leaves no orphans. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface RedisOptions {
  appendOnly?: boolean;
  /** requirepass: clients must authenticate (the password is put in `url`). */
  password?: string;
  /** TLS only (no plain port): PEM files; clients need not present a certificate. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export async function startRedis(opts: RedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    const listen = opts.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'no']
      : ['--port', String(port)];
    const args = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.appendOnly ? 'yes' : 'no', ...(opts.password ? ['--requirepass', opts.password] : [])];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      };
      proc.stdout?.on('data', onData);
      proc.on('error', (err) => reject(new Error(`could not start redis-server (is it installed? apt-get install redis-server): ${err.message}`)));
      proc.on('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)));
    });
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };

  await start();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  return {
    url: `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    stop,
    start,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
