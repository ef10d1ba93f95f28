/**
 * The JSON body parser: Fastify's own (secure-json-parse, refusing __proto__ and constructor
 * poisoning), after a strict UTF-8 check of the raw bytes. Fastify's default reads the body as a
 * string, and Node's decoder turns bytes that are not UTF-8 into U+FFFD without a word: the model
 * would then answer a prompt the client never sent. Here such a body is a 400 that says where.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors/api-error.js';

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (Unicode 15, table
 * 3-7: no overlong forms, no surrogates, nothing past U+10FFFF, nothing cut short), or -1 when all
 * of `bytes` is UTF-8.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    // How many continuation bytes follow, and the range the first of them must be in.
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b === 0xe0) [more, lo] = [2, 0xa0];
    else if (b === 0xed) [more, hi] = [2, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) more = 2;
    else if (b === 0xf0) [more, lo] = [3, 0x90];
    else if (b === 0xf4) [more, hi] = [3, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) more = 3;
    else return i;
    for (let k = 1; k <= more; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return -1;
}

export function invalidUtf8Error(bytes: Uint8Array, offset: number): ApiError {
  const byte = (bytes[offset] as number).toString(16).toUpperCase().padStart(2, '0');
  return new ApiError(400, 'INVALID_UTF8', `The request body is not valid UTF-8: byte 0x${byte} at byte offset ${offset} does not start a whole UTF-8 character; send JSON encoded as UTF-8`);
}

/** Replaces Fastify's application/json parser with the strict one (same limits, same JSON rules). */
export function strictJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    // isUtf8 is native and fast; the byte-by-byte scan only runs to say where a bad body fails.
    const bad = isUtf8(body) ? -1 : firstInvalidUtf8(body);
    if (bad >= 0) {
      done(invalidUtf8Error(body, bad), undefined);
      return;
    }
    parseJson(request, body.toString('utf8'), done);
  });
}
