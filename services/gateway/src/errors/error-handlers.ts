/**
 * How errors raised by Fastify and by Node's HTTP server are answered: the tables that give them
 * stable codes of ours, and the handlers installed on the app (errors, unknown routes, wrong methods)
 * and on its server (connection-level client errors). Anything unexpected is a 500 with a generic
 * message and the request id; its details go to the log line carrying the same id.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OpenAIError, openAIBody } from '../openai/openai-error.js';
import { ApiError, ClientGoneError, errorBody } from './api-error.js';
import { writeErrorAndClose } from './raw-socket.js';
import { allowedMethods, pathOf } from './route-methods.js';
import { validationMessage } from './validation-message.js';

/** Fastify's own client errors (body parsing, content type, size) under stable codes of ours. */
const FASTIFY_CLIENT_ERRORS: Record<string, { status: number; code: string; message: (limit: number) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE', message: (limit) => `The request body is larger than the limit of ${limit} bytes` },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: () => 'The request body must be JSON with the header content-type: application/json',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'INVALID_JSON',
    // secure-json-parse's prototype-poisoning refusals arrive under this code too.
    message: () => 'The request body is not valid JSON (or uses a forbidden key such as __proto__)',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: () => 'The request body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'BAD_REQUEST', message: () => 'The request body size did not match Content-Length' },
};

/**
 * Errors Fastify raises before routing (a malformed URL, an invalid header for the request id…),
 * which never reach setErrorHandler: answered in the API's format too.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  // No onRequest hook ran, so the request id header is set here.
  void reply.header('x-request-id', request.id);
  const message = err.code === 'FST_ERR_BAD_URL' ? 'The URL is malformed' : err.message;
  // No route matched, so no scope's handler answers: /v1's shape is chosen by the path here.
  const path = pathOf(request.url);
  if (path === '/v1' || path.startsWith('/v1/')) void reply.code(status).send(openAIBody(new OpenAIError(status, message, 'invalid_request_error', null, 'bad_request')));
  else void reply.code(status).send(errorBody('BAD_REQUEST', message));
  request.log.info({ code: err.code }, 'refused before routing');
}

/** Connection-level client errors, raised by Node's HTTP parser and timers before any request exists. */
const CONNECTION_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'REQUEST_TIMEOUT',
    message: 'The request (headers and body) did not arrive in time; the connection is closed',
  },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', message: 'The request headers are too large' },
};

/**
 * Node's 'clientError' (a slow client past CLIENT_TIMEOUT_MS, malformed HTTP, oversized headers):
 * answered in the API's error format, then the connection is closed — as Node itself would, but
 * with our body instead of Fastify's. Nothing is written when a response is already under way.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = err.code === undefined ? undefined : CONNECTION_ERRORS[err.code];
  const { status, code, message } = known ?? { status: 400, code: 'BAD_REQUEST', message: 'The request is not valid HTTP' };
  this.log.info({ code: err.code }, `client error (${code}); closing the connection`);
  writeErrorAndClose(socket, status, code, message);
}

export function installErrorHandlers(app: FastifyInstance, opts: { bodyLimitBytes: number }): void {
  app.setErrorHandler((err: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) {
      if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
      if (err.statusCode >= 500) request.log.warn({ code: err.code }, err.message);
      return reply.code(err.statusCode).send(errorBody(err.code, err.message));
    }
    if (err instanceof ClientGoneError) {
      // Not an error of ours; the socket is gone, so this answer goes nowhere. 499 is nginx's
      // "client closed request", which is what the metrics and the log line record.
      request.log.info('client disconnected before the answer; its job was dropped');
      return reply.code(499).send(errorBody('CLIENT_CLOSED', 'The client closed the request'));
    }
    if (err.validation) {
      return reply.code(400).send(errorBody('VALIDATION_ERROR', validationMessage(err.validation)));
    }
    const known = err.code === undefined ? undefined : FASTIFY_CLIENT_ERRORS[err.code];
    if (known) return reply.code(known.status).send(errorBody(known.code, known.message(opts.bodyLimitBytes)));
    if (err instanceof SyntaxError) return reply.code(400).send(errorBody('INVALID_JSON', 'The request body is not valid JSON'));
    const status = err.statusCode ?? 500;
    if (status === 429) {
      return reply.code(429).send(errorBody('RATE_LIMITED', `Too many requests from this client; ${err.message}`));
    }
    if (status >= 400 && status < 500) {
      // Other client errors Fastify raises carry fixed, non-internal messages.
      return reply.code(status).send(errorBody('BAD_REQUEST', err.message));
    }
    request.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody('INTERNAL', `Internal error; quote request id ${request.id} when reporting it`));
  });

  const allowOf = allowedMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const allow = allowOf(request);
    if (allow !== undefined) {
      void reply.header('allow', allow);
      return reply.code(405).send(errorBody('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path.slice(0, 200)}; it takes ${allow}`));
    }
    return reply.code(404).send(errorBody('NOT_FOUND', `No route for ${request.method} ${path.slice(0, 200)}`));
  });
}
