import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@gpt2-int8/dev/free-port';
import { type RedisServer, startRedisServer } from '@gpt2-int8/dev/redis-server';

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

export interface RedisOptions {
  appendOnly?: boolean;
  /** requirepass: clients must authenticate (the password is put in `url`). */
  password?: string;
  /** TLS only (no plain port): PEM files; clients need not present a certificate. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

/**
 * Starts a private redis-server on a free loopback port for one test file: isolated from the
 * machine's Redis, and the fault tests can stop and restart it.
 */
export async function startRedis(opts: RedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-int8-redis-'));
  const args = [
    ...(opts.tls ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'no'] : []),
    ...(opts.appendOnly ? ['--appendonly', 'yes'] : []),
    ...(opts.password ? ['--requirepass', opts.password] : []),
  ];
  let server: RedisServer | undefined;

  const start = async () => {
    server = await startRedisServer({ port, dir, args });
  };

  // SIGKILL: the fault tests want Redis gone at once, as in a crash, not after a graceful shutdown.
  const stop = async () => {
    const stopping = server;
    server = undefined;
    await stopping?.stop('SIGKILL');
  };

  await start();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  return {
    url: `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`,
    port,
    stop,
    start,
    pause: () => void server?.child.kill('SIGSTOP'),
    resume: () => void server?.child.kill('SIGCONT'),
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
