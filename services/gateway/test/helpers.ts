/** Starting a real gateway (buildApp + listen on a free port) for tests, and reading its answers. */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { readGatewayConfig } from '../src/config.js';

export interface TestGateway {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startGateway(env: Record<string, string>): Promise<TestGateway> {
  const config = readGatewayConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', LOG_PRETTY: 'false', ...env });
  const app = await buildApp({ config });
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

export interface SseEvent {
  event: string;
  data: unknown;
  /** Which network read delivered it (0-based): proves events arrived separately, not at the end. */
  chunk: number;
}

/** Reads a text/event-stream response to its end. */
export async function readSse(res: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let chunk = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      events.push({ event, data: JSON.parse(data.join('\n')), chunk });
    }
    chunk += 1;
  }
  return events;
}

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
