/**
 * API keys (API_KEYS, API_KEYS_FILE; config.ts): when any is configured, every /api/* and /v1/*
 * request needs `Authorization: Bearer <key>` (401 otherwise, in each API's error shape: the
 * ApiError thrown here is translated under /v1 by openai/openai-error.ts). Health, metrics, the
 * docs and the page's static files stay open. Keys are compared as SHA-256 digests with
 * crypto.timingSafeEqual, every configured key each time, so neither a key's content nor its
 * length shows in the answer's timing; a key is never logged, only its fingerprint (the first 8 hex
 * digits of its SHA-256); the rate limit counts per key by its whole SHA-256 (app.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors/api-error.js';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
/** For logs: short enough to show, long enough to tell a user's keys apart. */
export const keyFingerprint = (key: string): string => sha256(key).toString('hex').slice(0, 8);
/** For the rate limit: the whole digest, so two keys never share a budget. */
export const keyId = (key: string): string => sha256(key).toString('hex');

declare module 'fastify' {
  interface FastifyRequest {
    /** The fingerprint of the API key the request was let in with (API keys on). */
    apiKeyFingerprint?: string;
  }
}

/** The key in `Authorization: Bearer <key>`, or undefined. */
export function bearerKey(request: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return m?.[1];
}

/** Whether a key is one of `keys`, compared in constant time. */
export function keyMatcher(keys: readonly string[]): (key: string) => boolean {
  const digests = keys.map(sha256);
  return (key) => {
    const digest = sha256(key);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, digest) || ok;
    return ok;
  };
}

export function apiKeyCheck(keys: readonly string[]) {
  const known = keyMatcher(keys);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const key = bearerKey(request);
    if (key === undefined) {
      void reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHORIZED', 'An API key is required: send the header Authorization: Bearer <key>');
    }
    const fingerprint = keyFingerprint(key);
    if (!known(key)) {
      request.log.info({ api_key: fingerprint }, 'refused an unknown API key');
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new ApiError(401, 'UNAUTHORIZED', `Incorrect API key provided (fingerprint ${fingerprint}); check the key this server was configured with`);
    }
    request.apiKeyFingerprint = fingerprint;
  };
}
