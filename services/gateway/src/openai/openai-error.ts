/**
 * Errors under /v1 in OpenAI's shape, `{ error: { message, type, param, code } }`, with the statuses
 * the official clients map to their error classes (400 BadRequestError, 401 AuthenticationError,
 * 404 NotFoundError, 413, 429 RateLimitError, 5xx InternalServerError). /api/* keeps its own shape
 * (errors/api-error.ts); the gateway's own ApiErrors (admission, the job client, the worker's client
 * errors) are translated here, so both APIs refuse for the same reasons.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ClientGoneError } from '../errors/api-error.js';
import { relevantErrors, validationMessage } from '../errors/validation-message.js';

export class OpenAIError extends Error {
  override name = 'OpenAIError';
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null): OpenAIError =>
  new OpenAIError(400, message, 'invalid_request_error', param, code);

export function openAIBody(e: OpenAIError): OpenAIErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** An ApiError of the gateway's (admission.ts, queue/job-client.ts, the worker's client errors) in OpenAI's terms. */
export function fromApiError(e: ApiError): OpenAIError {
  const code = e.code.toLowerCase();
  if (e.code === 'PROMPT_TOO_LONG') return new OpenAIError(400, e.message, 'invalid_request_error', 'prompt', 'context_length_exceeded');
  if (e.statusCode === 401) return new OpenAIError(401, e.message, 'invalid_request_error', null, 'invalid_api_key');
  if (e.statusCode === 429) return new OpenAIError(429, e.message, 'rate_limit_exceeded', null, 'rate_limit_exceeded', e.retryAfter);
  if (e.statusCode === 504) return new OpenAIError(504, e.message, 'timeout', null, code);
  if (e.statusCode >= 500) return new OpenAIError(e.statusCode, e.message, 'server_error', null, code, e.retryAfter);
  return new OpenAIError(e.statusCode, e.message, 'invalid_request_error', e.param ?? null, code, e.retryAfter);
}

/** "/messages/0/role" → "messages[0].role" (the param OpenAI names). */
function paramOf(instancePath: string | undefined, extra?: string): string | null {
  const parts = (instancePath ?? '').split('/').filter((p) => p !== '');
  if (extra) parts.push(extra);
  if (parts.length === 0) return null;
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

/** Any error thrown under /v1 → the OpenAIError to answer with. */
export function toOpenAIError(err: unknown, request: FastifyRequest, bodyLimitBytes: number): OpenAIError {
  if (err instanceof OpenAIError) return err;
  if (err instanceof ApiError) return fromApiError(err);
  const e = err as FastifyError;
  if (e.validation && e.validation.length > 0) {
    const relevant = relevantErrors(e.validation);
    const first = relevant.find((v) => v.keyword === 'additionalProperties') ?? relevant[0];
    // TypeBox names unknown fields in additionalProperties (a list), missing ones in requiredProperties.
    const p = first?.params as { additionalProperties?: string[]; additionalProperty?: string; requiredProperties?: string[]; missingProperty?: string } | undefined;
    const field = p?.additionalProperties?.[0] ?? p?.additionalProperty ?? p?.requiredProperties?.[0] ?? p?.missingProperty;
    return invalidRequest(validationMessage(e.validation), paramOf(first?.instancePath, field));
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OpenAIError(413, `The request body is larger than the limit of ${bodyLimitBytes} bytes (BODY_LIMIT_BYTES)`, 'invalid_request_error', null, 'request_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OpenAIError(415, 'The request body must be JSON with the header content-type: application/json', 'invalid_request_error');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest('We could not parse the JSON body of your request: it is empty or not valid JSON');
  }
  if (err instanceof SyntaxError) return invalidRequest('We could not parse the JSON body of your request');
  const status = e.statusCode ?? 500;
  if (status === 429) return new OpenAIError(429, `Rate limit reached: ${e.message}`, 'rate_limit_exceeded', null, 'rate_limit_exceeded');
  if (status >= 400 && status < 500) return new OpenAIError(status, e.message, 'invalid_request_error');
  request.log.error({ err }, 'unexpected error');
  return new OpenAIError(500, `Internal error; quote request id ${request.id} when reporting it`, 'server_error');
}

/** The error handler of the /v1 scope (routes.ts). */
export function openAIErrorHandler(bodyLimitBytes: number) {
  return (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ClientGoneError) {
      request.log.info('client disconnected before the answer; its jobs were dropped');
      return reply.code(499).send(openAIBody(new OpenAIError(499, 'The client closed the request', 'invalid_request_error')));
    }
    const e = toOpenAIError(err, request, bodyLimitBytes);
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    if (e.statusCode >= 500) request.log.warn({ code: e.code }, e.message);
    return reply.code(e.statusCode).send(openAIBody(e));
  };
}
