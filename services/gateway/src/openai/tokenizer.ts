/**
 * GPT-2's tokenizer in the gateway, for what OpenAI's API reports or accepts in tokens: prompts
 * sent as token ids (decoded to text for the job's `prompt` and for echo), `usage.prompt_tokens`,
 * `text_offset`, and refusing a prompt longer than the model's context before a job is queued.
 * The same encoding the worker uses (shared/runtime/src/tokenizer.ts: r50k_base, special tokens
 * as plain text); gpt-tokenizer is pure JavaScript, so the gateway still has no ONNX Runtime.
 * Decoding is stateless here for the reason given there (gpt-tokenizer 4's own decode shares one
 * streaming TextDecoder across calls).
 */
import bpeRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { encode as encodeR50k } from 'gpt-tokenizer/encoding/r50k_base';

export const GPT2_VOCAB_SIZE = 50257;
const EOS_TOKEN_ID = 50256;
const AS_TEXT = { disallowedSpecial: new Set<string>() };
const utf8 = new TextEncoder();

export function encode(text: string): number[] {
  return encodeR50k(text, AS_TEXT);
}

/** A token's bytes: what it adds to the text, which may be part of a character (byte-level BPE). */
export function tokenBytes(id: number): Uint8Array {
  if (id === EOS_TOKEN_ID) return utf8.encode('<|endoftext|>');
  const v = bpeRanks[id];
  if (v === undefined) throw new RangeError(`token id ${id} is not in the GPT-2 vocabulary`);
  return typeof v === 'string' ? utf8.encode(v) : Uint8Array.from(v);
}

/** Text of the tokens; bytes that do not form a whole UTF-8 character show as U+FFFD. */
export function decode(ids: readonly number[]): string {
  const parts = ids.map(tokenBytes);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return new TextDecoder('utf-8').decode(bytes);
}

/**
 * Where each token's text starts in decode(ids): the length of the text of the tokens before it,
 * a character split across tokens counting from the token that completes it.
 */
export function textOffsets(ids: readonly number[]): number[] {
  const decoder = new TextDecoder('utf-8');
  let length = 0;
  return ids.map((id) => {
    const at = length;
    length += decoder.decode(tokenBytes(id), { stream: true }).length;
    return at;
  });
}
