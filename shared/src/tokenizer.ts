import bpeRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encode as encodeR50k } from 'gpt-tokenizer/encoding/r50k_base';

/** GPT-2's byte-level BPE (r50k_base): 50257 tokens, the last being <|endoftext|>. */
export const EOS_TOKEN_ID = 50256;
export const GPT2_VOCAB_SIZE = 50257;

/** No special tokens are honoured in user text: "<|endoftext|>" typed in a prompt is just text. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

export function encode(text: string): number[] {
  return encodeR50k(text, AS_TEXT);
}

const EOS_TEXT = '<|endoftext|>';
const utf8 = new TextEncoder();
/** Each token's bytes, from the encoding's own rank table (a string entry is valid UTF-8 text). */
const TOKEN_BYTES: Uint8Array[] = bpeRanks.map((v) => (typeof v === 'string' ? utf8.encode(v) : Uint8Array.from(v)));
TOKEN_BYTES[EOS_TOKEN_ID] = utf8.encode(EOS_TEXT);

/**
 * Decodes tokens to text; bytes that do not form a whole UTF-8 character show as U+FFFD.
 *
 * Stateless on purpose: gpt-tokenizer 4's own `decode` shares one streaming TextDecoder across all
 * calls, so a token ending in part of a character leaves bytes behind that corrupt the next call,
 * which may be another request's text.
 */
export function decode(tokens: readonly number[]): string {
  let length = 0;
  for (const id of tokens) length += tokenBytes(id).length;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const id of tokens) {
    const b = tokenBytes(id);
    bytes.set(b, at);
    at += b.length;
  }
  return new TextDecoder('utf-8').decode(bytes);
}

function tokenBytes(id: number): Uint8Array {
  const b = Number.isInteger(id) ? TOKEN_BYTES[id] : undefined;
  if (b === undefined) throw new RangeError(`token id ${id} is not in the GPT-2 vocabulary (0-${GPT2_VOCAB_SIZE - 1})`);
  return b;
}

/** The text of one token on its own; a token that is part of a multi-byte character shows as '�'. */
export function tokenText(id: number): string {
  return decode([id]);
}

/**
 * Decodes a growing token sequence for streaming: returns only text that is final, holding back
 * a trailing partial UTF-8 character (which decodes as U+FFFD) until the token that completes it.
 */
export class StreamDecoder {
  private tokens: number[] = [];
  private emitted = 0;

  push(id: number): string {
    this.tokens.push(id);
    const text = decode(this.tokens);
    const stable = text.endsWith('\uFFFD') ? text.replace(/\uFFFD+$/, '') : text;
    const delta = stable.slice(this.emitted);
    this.emitted = Math.max(this.emitted, stable.length);
    return delta;
  }

  text(): string {
    return decode(this.tokens);
  }
}
