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

/**
 * Every token's bytes in one buffer, from the encoding's own rank table (a string entry is valid
 * UTF-8 text): token i is BYTES[OFFSETS[i] .. OFFSETS[i + 1]). One buffer rather than 50257 small
 * arrays, which cost ~19 MB of per-object overhead in every worker.
 */
const { BYTES, OFFSETS } = (() => {
  const utf8 = new TextEncoder();
  const offsets = new Uint32Array(GPT2_VOCAB_SIZE + 1);
  // Written in place (no per-token arrays: even short-lived, they grow the heap for good).
  let buffer = new Uint8Array(1 << 20);
  let at = 0;
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    const v = id === EOS_TOKEN_ID ? EOS_TEXT : bpeRanks[id];
    if (v === undefined) throw new Error(`the r50k_base rank table has no token ${id}`);
    const need = typeof v === 'string' ? 3 * v.length : v.length;
    if (at + need > buffer.length) {
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    if (typeof v === 'string') at += utf8.encodeInto(v, buffer.subarray(at)).written;
    else {
      buffer.set(v, at);
      at += v.length;
    }
    offsets[id + 1] = at;
  }
  return { BYTES: buffer.slice(0, at), OFFSETS: offsets };
})();

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
  if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) throw new RangeError(`token id ${id} is not in the GPT-2 vocabulary (0-${GPT2_VOCAB_SIZE - 1})`);
  return BYTES.subarray(OFFSETS[id] as number, OFFSETS[id + 1] as number);
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
