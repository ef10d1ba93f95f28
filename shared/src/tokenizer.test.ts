import { decode as libraryDecode } from 'gpt-tokenizer/encoding/r50k_base';
import { describe, expect, it } from 'vitest';
import { decode, encode, EOS_TOKEN_ID, GPT2_VOCAB_SIZE, StreamDecoder, tokenText } from './tokenizer.js';

const SAMPLES = ['Hello world', 'Artificial intelligence is', '你好世界', 'emoji 😀👍🏽 and ünïcödé', 'tabs\tand\nnewlines  ', '<|endoftext|> as text'];

describe('tokenizer', () => {
  it('round-trips text and agrees with gpt-tokenizer on whole sequences', () => {
    for (const s of SAMPLES) {
      const ids = encode(s);
      expect(decode(ids)).toBe(s);
      expect(decode(ids)).toBe(libraryDecode(ids));
    }
  });

  it('treats a typed <|endoftext|> as text, and decodes the EOS id', () => {
    expect(encode('<|endoftext|>')).not.toContain(EOS_TOKEN_ID);
    expect(decode([EOS_TOKEN_ID])).toBe('<|endoftext|>');
  });

  it('shows part of a character as U+FFFD and leaves no state behind for the next call', () => {
    const [first, second] = encode('😀') as [number, number];
    expect(tokenText(first)).toBe('\uFFFD');
    // gpt-tokenizer's own decode would carry the partial bytes into this unrelated call.
    expect(decode(encode('Hello'))).toBe('Hello');
    expect(tokenText(second)).toBe('\uFFFD');
    expect(decode([first, second])).toBe('😀');
    // Order is kept even with a whole-text token between the halves.
    const a = encode('a')[0] as number;
    expect(decode([first, a, second])).toBe('\uFFFDa\uFFFD');
  });

  it('refuses ids outside the vocabulary', () => {
    expect(() => decode([GPT2_VOCAB_SIZE])).toThrow(/not in the GPT-2 vocabulary/);
    expect(() => decode([-1])).toThrow(RangeError);
  });

  it('StreamDecoder never splits a character and ends with the whole text', () => {
    for (const s of SAMPLES) {
      const d = new StreamDecoder();
      const pieces = encode(s).map((id) => d.push(id));
      expect(pieces.join('')).toBe(s);
      expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
      expect(d.text()).toBe(s);
    }
  });
});
