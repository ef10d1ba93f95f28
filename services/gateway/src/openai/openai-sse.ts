/**
 * OpenAI's streaming format: `data: {json}` events with no event name, ended by `data: [DONE]`
 * (the official clients read unnamed events as chunks, and `data: {"error": …}` as an error). As
 * in sse.ts, headers go out with the first event, so a request refused before any chunk is still
 * a plain HTTP error with its status, which the clients map to their error classes.
 */
import { SseStream } from '../sse.js';

export class OpenAISse extends SseStream {
  /** One chunk, as an unnamed event. */
  chunk(data: unknown): void {
    this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  done(): void {
    this.write('data: [DONE]\n\n');
  }

  /** A plain JSON error response, when nothing was streamed yet. */
  fail(status: number, body: unknown, retryAfter?: number): void {
    if (!this.writable) return;
    this.res.writeHead(status, {
      ...this.headers,
      'content-type': 'application/json; charset=utf-8',
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    });
    this.res.write(JSON.stringify(body));
  }
}
