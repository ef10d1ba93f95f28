import { decode as decodeR50k, encode as encodeR50k } from 'gpt-tokenizer/encoding/r50k_base';

/** GPT-2's byte-level BPE (r50k_base): 50257 tokens, the last being <|endoftext|>. */
export const EOS_TOKEN_ID = 50256;
export const GPT2_VOCAB_SIZE = 50257;

/** No special tokens are honoured in user text: "<|endoftext|>" typed in a prompt is just text. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

export function encode(text: string): number[] {
  return encodeR50k(text, AS_TEXT);
}

export function decode(tokens: readonly number[]): string {
  return decodeR50k(tokens as number[]);
}

/** The text of one token on its own; a token that is part of a multi-byte character shows as '�'. */
export function tokenText(id: number): string {
  return decodeR50k([id]);
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
