/**
 * OpenAI's streaming format: `data: {json}` events with no event name, ended by `data: [DONE]`
 * (the official clients read unnamed events as chunks, and `data: {"error": …}` as an error). As
 * in sse.ts, headers go out with the first event, so a request refused before any chunk is still
 * a plain HTTP error with its status, which the clients map to their error classes.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

export class OpenAISse {
  private opened = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: OutgoingHttpHeaders,
  ) {}

  get started(): boolean {
    return this.opened;
  }

  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  private write(line: string): void {
    if (!this.writable) return;
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, {
        ...this.headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
    }
    this.res.write(line);
  }

  send(chunk: unknown): void {
    this.write(`data: ${JSON.stringify(chunk)}\n\n`);
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

  end(): void {
    if (this.writable) this.res.end();
  }
}
