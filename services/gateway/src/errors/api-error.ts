/**
 * Every error leaves the gateway as `{ error: { code, message } }`. Client mistakes get a 4xx whose
 * message names the field and what was wrong; anything unexpected gets a 500 with a generic message
 * and the request id, so nothing internal (stack, paths, Redis details) reaches the client — the
 * details are in the log line carrying the same request id (error-handlers.ts).
 */
import type { ErrorBody } from '@gpt2-int8/contract/api';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Seconds, sent as Retry-After (503 queue full, Redis down). */
    readonly retryAfter?: number,
    /** The request field it is about ("messages[1].content"), for OpenAI's `param` under /v1. */
    readonly param?: string,
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
