/**
 * What the gateway says about each request. Fastify's default is two info lines per request
 * (incoming, completed), for everything: on a terminal running `npm start`, the page's /readyz polls
 * and static files were two thirds of all lines. Here an API request (/api/*) gets one info line when
 * it is answered — method, path, status, time — and everything else (health checks, metrics, the page
 * and its files, the docs) is logged at debug, as is the arrival of every request.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

function path(request: FastifyRequest): string {
  return (request.url.split('?')[0] ?? '').slice(0, 200);
}

export function isApiRequest(request: FastifyRequest): boolean {
  return path(request).startsWith('/api/');
}

export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: path(request) }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const ms = Math.round(reply.elapsedTime * 100) / 100;
    const fields = { method: request.method, url: path(request), status: reply.statusCode, ms };
    const line = `${request.method} ${fields.url} ${reply.statusCode} ${ms} ms`;
    if (error) reply.log.error({ ...fields, err: error }, line);
    else if (isApiRequest(request)) reply.log.info(fields, line);
    else reply.log.debug(fields, line);
  }
}
