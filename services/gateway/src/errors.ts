/**
 * Every error leaves the gateway as `{ error: { code, message } }`. Client mistakes get a 4xx whose
 * message names the field and what was wrong; anything unexpected gets a 500 with a generic message
 * and the request id, so nothing internal (stack, paths, Redis details) reaches the client — the
 * details are in the log line carrying the same request id.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { ErrorBody } from '@gpt2-int8/contract/api';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Seconds, sent as Retry-After (503 queue full, Redis down). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The client disconnected while its request waited: nobody is left to answer. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** "/stop/1" → "stop[1]"; "" → "body". */
function fieldName(instancePath: string): string {
  if (instancePath === '') return 'body';
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

/** One schema error in words a client can act on. */
function describe(e: FastifySchemaValidationError): string {
  const field = fieldName(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const names = (p.requiredProperties as string[] | undefined) ?? [String(p.missingProperty)];
      const fields = names.map((n) => (field === 'body' ? n : `${field}.${n}`));
      return `${fields.join(', ')} ${fields.length > 1 ? 'are' : 'is'} required`;
    }
    case 'additionalProperties': {
      const names = (p.additionalProperties as string[] | undefined) ?? [String(p.additionalProperty)];
      return `unknown field${names.length > 1 ? 's' : ''} ${names.map((n) => JSON.stringify(n)).join(', ')}${field === 'body' ? '' : ` in ${field}`}`;
    }
    case 'pattern':
      // The only pattern in the API is the prompt's "\S": not empty, not only whitespace.
      return p.pattern === '\\S' ? `${field} must not be empty or only whitespace` : `${field} has an invalid format`;
    case 'minLength':
      return p.limit === 1 ? `${field} must not be empty` : `${field} must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    case 'maxItems':
      return `${field} must have at most ${String(p.limit)} items`;
    case 'type':
      return field === 'body' ? 'the body must be a JSON object' : `${field} must be ${article(String(p.type))}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${field} must be ${String(p.comparison)} ${String(p.limit)}`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

function article(type: string): string {
  return { integer: 'an integer', array: 'an array', object: 'an object', boolean: 'true or false', string: 'a string', number: 'a number' }[type] ?? type;
}

/**
 * TypeBox reports an unknown field twice (a "schema is false" error on the field and an
 * additionalProperties error on the object); keep the readable one and drop duplicates. An empty
 * prompt breaks both its minLength and its "\S" pattern (shared/api.ts): the pattern's sentence
 * ("must not be empty or only whitespace") already says the other, so it is said once.
 */
export function validationMessage(errors: FastifySchemaValidationError[]): string {
  const notBlank = new Set(errors.filter((e) => e.keyword === 'pattern' && (e.params as { pattern?: unknown }).pattern === '\\S').map((e) => e.instancePath));
  const useful = errors.filter(
    (e) =>
      !(e.keyword === 'boolean' && (e.message ?? '').includes('schema is false')) &&
      !(e.keyword === 'minLength' && (e.params as { limit?: unknown }).limit === 1 && notBlank.has(e.instancePath)),
  );
  const lines = [...new Set((useful.length > 0 ? useful : errors).map(describe))];
  return lines.slice(0, 5).join('; ');
}

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
  void reply.code(status).send(errorBody('BAD_REQUEST', err.code === 'FST_ERR_BAD_URL' ? 'The URL is malformed' : err.message));
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
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!response?.headersSent) writeErrorAndClose(socket, status, code, message);
  else socket.destroy();
}

/**
 * CONNECT (a proxy tunnel request) never reaches Fastify: Node hands it to 'connect' listeners and,
 * without one, drops the connection unanswered. This gateway is not a proxy: 405, in our format.
 */
export function refuseConnect(socket: Duplex): void {
  writeErrorAndClose(socket, 405, 'METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is not a proxy');
}

/** A whole HTTP/1.1 error response written straight to the socket, which is then closed. */
function writeErrorAndClose(socket: Duplex, status: number, code: string, message: string): void {
  if (socket.writable) {
    const body = JSON.stringify(errorBody(code, message));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: nosniff\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
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

  // The methods each route answers, so that a known path asked with another method is told which
  // ones it takes (405 with Allow, RFC 9110 §15.5.6) rather than that it does not exist. Filled as
  // routes are registered (this runs before any is); paths with parameters or wildcards are left
  // out (none of them is an API route).
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (/[:*]/.test(route.url)) return;
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) methods.add(m);
    methodsByPath.set(route.url, methods);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = methodsByPath.get(path);
    if (allowed !== undefined && !allowed.has(request.method)) {
      const allow = [...allowed].sort().join(', ');
      void reply.header('allow', allow);
      return reply.code(405).send(errorBody('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path.slice(0, 200)}; it takes ${allow}`));
    }
    return reply.code(404).send(errorBody('NOT_FOUND', `No route for ${request.method} ${path.slice(0, 200)}`));
  });
}
