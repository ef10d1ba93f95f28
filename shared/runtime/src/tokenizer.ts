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

/** The bytes of one token (a view into the shared table: do not modify). */
export function tokenBytes(id: number): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) throw new RangeError(`token id ${id} is not in the GPT-2 vocabulary (0-${GPT2_VOCAB_SIZE - 1})`);
  return BYTES.subarray(OFFSETS[id] as number, OFFSETS[id + 1] as number);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** How many bytes a UTF-8 sequence starting with `lead` has; 0 for a byte no character starts with. */
function utf8Length(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * The text of one token on its own, for lists of tokens (top-k, the predicted token). GPT-2's
 * byte-level BPE has tokens that hold only part of a character (every CJK character and emoji is
 * two or more of them); decoded alone they are all U+FFFD and cannot be told apart. Here the whole
 * characters in a token are shown as text and every other byte as `<0xE4>`, as llama.cpp shows
 * byte tokens — e.g. " <0xE4><0xB8>" for a space and the first two bytes of "中". Text, not ids,
 * is still what decode() and generation produce.
 */
export function tokenText(id: number): string {
  const bytes = tokenBytes(id);
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8Length(bytes[i] as number);
    let char: string | undefined;
    if (n > 0 && i + n <= bytes.length) {
      try {
        // The strict decoder refuses overlong forms, surrogates and bad continuation bytes.
        char = STRICT_UTF8.decode(bytes.subarray(i, i + n));
      } catch {
        char = undefined;
      }
    }
    if (char === undefined) {
      out += `<0x${(bytes[i] as number).toString(16).toUpperCase().padStart(2, '0')}>`;
      i += 1;
    } else {
      out += char;
      i += n;
    }
  }
  return out;
}

/**
 * Decodes a growing token sequence for streaming: returns only text that is final, holding back
 * a trailing partial UTF-8 character until the token that completes it. Bytes that can never be
 * part of a character come out at once as U+FFFD (a streaming TextDecoder: the same text as
 * decode() of the whole, in pieces). Holding back every trailing U+FFFD instead held a run of
 * undecodable tokens to the end of the generation, then credited it all to the last token.
 */
export class StreamDecoder {
  private readonly tokens: number[] = [];
  private readonly decoder = new TextDecoder('utf-8');

  push(id: number): string {
    this.tokens.push(id);
    return this.decoder.decode(tokenBytes(id), { stream: true });
  }

  /** All the text so far, a partial character at the end shown as U+FFFD. */
  text(): string {
    return decode(this.tokens);
  }
}
