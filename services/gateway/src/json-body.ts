/**
 * The JSON body parser: Fastify's own (secure-json-parse, refusing __proto__ and constructor
 * poisoning), after a strict UTF-8 check of the raw bytes. Fastify's default reads the body as a
 * string, and Node's decoder turns bytes that are not UTF-8 into U+FFFD without a word: the model
 * would then answer a prompt the client never sent. Here such a body is a 400 that says where. So
 * is a JSON escape of half a surrogate pair ("\ud83d" alone), which is valid JSON but not text:
 * encoding it to UTF-8 (for the tokenizer) would make it U+FFFD just the same. A compressed body is
 * a 415: it is not decompressed, and its bytes would otherwise be reported as invalid UTF-8.
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

/** A JSON escape of a UTF-16 surrogate: parsed text can only hold a lone one when its body has one. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface LoneSurrogate {
  /** The field as a client writes it ("messages[1].content"), "body" for the body itself. */
  field: string;
  /** Whether it is in the field's name rather than its value. */
  inName: boolean;
  /** Its index in the string, in UTF-16 code units (as JavaScript counts characters). */
  offset: number;
  unit: number;
}

/** The first string of a parsed JSON value (names included) holding a lone surrogate, in document order. */
export function firstLoneSurrogate(value: unknown): LoneSurrogate | undefined {
  // A stack, not recursion: the body may be nested deeper than the call stack goes.
  const stack: { v: unknown; field: string }[] = [{ v: value, field: '' }];
  const found = (s: string, field: string, inName: boolean): LoneSurrogate | undefined => {
    const m = LONE_SURROGATE.exec(s);
    return m ? { field: field === '' ? 'body' : field, inName, offset: m.index, unit: s.charCodeAt(m.index) } : undefined;
  };
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { v, field } = top;
    if (typeof v === 'string') {
      const lone = found(v, field, false);
      if (lone) return lone;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], field: `${field}[${i}]` });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      for (const [name] of entries) {
        const lone = found(name, field, true);
        if (lone) return lone;
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [name, x] = entries[i] as [string, unknown];
        stack.push({ v: x, field: field === '' ? name : `${field}.${name}` });
      }
    }
  }
  return undefined;
}

export function loneSurrogateError(lone: LoneSurrogate): ApiError {
  const unit = lone.unit.toString(16).toUpperCase();
  const where = lone.inName ? `the name of a field in ${lone.field}` : lone.field;
  return new ApiError(
    400,
    'INVALID_UNICODE',
    `The request body is not valid Unicode: ${where} holds \\u${unit} at character ${lone.offset}, half of a UTF-16 surrogate pair without its other half; send whole characters`,
    undefined,
    lone.field,
  );
}

/** Content-Encoding other than identity: the body is compressed (or otherwise transformed). */
function encodedBody(header: string | undefined): boolean {
  return header !== undefined && !header.split(',').every((c) => ['', 'identity'].includes(c.trim().toLowerCase()));
}

/** Replaces Fastify's application/json parser with the strict one (same limits, same JSON rules). */
export function strictJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    const encoding = request.headers['content-encoding'];
    if (encodedBody(encoding)) {
      const shown = JSON.stringify(encoding?.slice(0, 40));
      done(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `Compressed request bodies are not supported (content-encoding: ${shown}); send the JSON uncompressed`), undefined);
      return;
    }
    // isUtf8 is native and fast; the byte-by-byte scan only runs to say where a bad body fails.
    const bad = isUtf8(body) ? -1 : firstInvalidUtf8(body);
    if (bad >= 0) {
      done(invalidUtf8Error(body, bad), undefined);
      return;
    }
    const text = body.toString('utf8');
    // Most bodies have no surrogate escape: only those that do are walked.
    if (!SURROGATE_ESCAPE.test(text)) {
      parseJson(request, text, done);
      return;
    }
    parseJson(request, text, (err, parsed) => {
      const lone = err ? undefined : firstLoneSurrogate(parsed);
      if (lone) done(loneSurrogateError(lone), undefined);
      else done(err, parsed);
    });
  });
}
