/**
 * Lingering close, as nginx and Apache do it. When the gateway refuses a request before reading its
 * body (413 for a body over the limit, a parse error midway), Fastify closes the connection after the
 * answer — while the client may still be sending. The client's kernel then gets a reset for data the
 * server never read, and may discard the error answer it had already received: the client sees
 * "connection reset" instead of a 413. So before such an answer goes out, the rest of the body is
 * read and thrown away — up to LINGER_MAX_BYTES, and never longer than the client timeout (Node
 * answers 408 and closes a client slower than that).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** Past this much left to read, close at once: a client sending that much gets no courtesy. */
export const LINGER_MAX_BYTES = 1024 * 1024;

function drain(req: IncomingMessage, maxBytes: number): Promise<void> {
  return new Promise((resolve) => {
    let read = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) done();
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}

export function lingerOnEarlyAnswers(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const req = request.raw;
    // A body read to its end has nothing left to drain. `complete` says so for a socket's request;
    // `readableEnded` for an injected one too (Fastify's inject: light-my-request has no `complete`).
    if (req.complete || req.readableEnded || req.destroyed || reply.statusCode < 400) return payload;
    const declared = Number(req.headers['content-length']);
    // A declared length too large to be worth reading: close at once, as before.
    if (Number.isFinite(declared) && declared > LINGER_MAX_BYTES) return payload;
    await drain(req, LINGER_MAX_BYTES);
    return payload;
  });
}
