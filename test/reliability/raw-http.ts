/**
 * HTTP/1.1 over a raw TCP socket, for inputs a well-behaved client library refuses to send: invalid
 * UTF-8, bad header bytes, conflicting lengths, request lines of any size, bodies sent slowly.
 * One request per connection; the response is read until it is complete (content-length or the last
 * chunk) or the server closes the connection.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  /** undefined when the server closed the connection without a status line. */
  status?: number;
  headers: Record<string, string>;
  /** The body, de-chunked. */
  body: string;
  /** ms from connecting to the connection closing. */
  ms: number;
}

/** Whether `raw` holds a whole response (so a keep-alive connection need not be waited out). */
function complete(raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = raw.subarray(0, end).toString('latin1').toLowerCase();
  if (/^http\/1\.[01] (1\d\d|204|304)/.test(head)) return !head.startsWith('http/1.1 100');
  const length = /\r\ncontent-length: *(\d+)/.exec(head)?.[1];
  if (length !== undefined) return raw.length - (end + 4) >= Number(length);
  if (/\r\ntransfer-encoding: *chunked/.test(head)) return raw.subarray(end + 4).includes('\r\n0\r\n\r\n') || raw.subarray(end + 4).indexOf('0\r\n\r\n') === 0;
  return false;
}

function parse(raw: Buffer, ms: number): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { headers: {}, body: '', ms };
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1];
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size) || size === 0) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { ...(status ? { status: Number(status) } : {}), headers, body: body.toString('utf8'), ms };
}

/** Sends `head` (request line and headers, CRLF-separated, without the blank line) and `body`. */
export function rawRequest(port: number, head: string, body?: Buffer | string, opts: { timeoutMs?: number } = {}): Promise<RawResponse> {
  return rawExchange(port, (socket) => {
    socket.write(`${head}\r\n\r\n`, 'latin1');
    if (body !== undefined && body.length > 0) socket.write(body);
  }, opts.timeoutMs ?? 15_000);
}

/**
 * Opens a connection and lets `drive` write to it as it likes (slowly, partially); resolves with the
 * answer once the server closes the connection, or rejects after `timeoutMs` (the server kept it).
 */
export function rawExchange(port: number, drive: (socket: Socket) => void | (() => void), timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let cleanup: (() => void) | undefined;
    const timer = setTimeout(() => {
      cleanup?.();
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      cleanup = drive(socket) ?? undefined;
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (complete(Buffer.concat(chunks))) socket.destroy();
    });
    // A server that answers early (413) and closes while we still write: EPIPE/ECONNRESET; the
    // answer already read is what counts.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      cleanup?.();
      resolve(parse(Buffer.concat(chunks), Date.now() - started));
    });
  });
}

/**
 * A POST with a body (bytes as given) and its content-type and content-length, on a keep-alive
 * connection as browsers and HTTP libraries send it. (With `connection: close`, a server that refuses
 * an oversized body at once closes while the client still sends, and the client's kernel may discard
 * the 413 on the reset.)
 */
export function rawPost(port: number, path: string, body: Buffer | string, contentType: string | undefined, extraHeaders: string[] = []): Promise<RawResponse> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = [
    `POST ${path} HTTP/1.1`,
    'host: 127.0.0.1',
    ...(contentType === undefined ? [] : [`content-type: ${contentType}`]),
    `content-length: ${bytes.length}`,
    ...extraHeaders,
  ].join('\r\n');
  return rawRequest(port, head, bytes);
}
