/**
 * Server-Sent Events on a raw Node response. Headers go out on the first event, not earlier, so a
 * generation that fails before its first token is still answered with a plain HTTP error status
 * (e.g. 413 for a prompt that is too long) rather than a 200 stream holding an error.
 */
import type { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';

export class SseStream {
  private opened = false;

  constructor(
    protected readonly res: ServerResponse,
    protected readonly headers: OutgoingHttpHeaders,
  ) {}

  get started(): boolean {
    return this.opened;
  }

  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  send(event: string, data: unknown): void {
    // JSON never contains a raw newline, so one data: line per event is enough.
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Writes raw event-stream text, opening the stream (status and headers) on the first write. */
  protected write(text: string): void {
    if (!this.writable) return;
    if (!this.opened) {
      this.opened = true;
      this.res.writeHead(200, {
        ...this.headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // Tell nginx-style proxies not to buffer: tokens must reach the browser as they come.
        'x-accel-buffering': 'no',
      });
    }
    this.res.write(text);
  }

  end(): void {
    if (this.writable) this.res.end();
  }
}
