/** Starting a real gateway (buildApp on Redis + listen on a free port) for tests, and reading its answers. */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { readGatewayConfig } from '../src/config.js';
import { createRedisParts } from '../src/queue/redis-parts.js';

export interface TestGateway {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startGateway(env: Record<string, string>): Promise<TestGateway> {
  const config = readGatewayConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', LOG_PRETTY: 'false', ...env });
  const app = await buildApp({ config, ...(await createRedisParts(config, pino({ level: 'silent' }))) });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address, app, close: () => app.close() };
}

export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export { readSse, type SseEvent } from '../../../test/support/sse.js';

/** Polls until `check` returns true (bounded; for state that settles asynchronously, never for speed). */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
