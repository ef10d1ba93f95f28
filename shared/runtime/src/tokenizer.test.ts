import { decode as libraryDecode } from 'gpt-tokenizer/encoding/r50k_base';
import { describe, expect, it } from 'vitest';
import { decode, encode, EOS_TOKEN_ID, GPT2_VOCAB_SIZE, StreamDecoder, tokenBytes, tokenText } from './tokenizer.js';

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

  it('decodes part of a character as U+FFFD and leaves no state behind for the next call', () => {
    const [first, second] = encode('😀') as [number, number];
    expect(decode([first])).toBe('\uFFFD');
    // gpt-tokenizer's own decode would carry the partial bytes into this unrelated call.
    expect(decode(encode('Hello'))).toBe('Hello');
    expect(decode([second])).toBe('\uFFFD');
    expect(decode([first, second])).toBe('😀');
    // Order is kept even with a whole-text token between the halves.
    const a = encode('a')[0] as number;
    expect(decode([first, a, second])).toBe('\uFFFDa\uFFFD');
  });

  it('tokenText shows the bytes of a token that is part of a character as <0xNN>, and whole characters as text', () => {
    // 😀 is F0 9F 98 80; GPT-2 splits it into two byte-level tokens.
    const [first, second] = encode('😀') as [number, number];
    expect(tokenText(first) + tokenText(second)).toBe('<0xF0><0x9F><0x98><0x80>');
    expect(tokenText(first)).toMatch(/^(<0x[0-9A-F]{2}>)+$/);
    // 文 is E6 96 87, in two tokens: each shown by its bytes, none as U+FFFD.
    const wen = encode('文');
    expect(wen.length).toBe(2);
    expect(wen.map(tokenText)).toEqual(['<0xE6><0x96>', '<0x87>']);
    // A character that is a token of its own stays text.
    expect(encode('中').map(tokenText)).toEqual(['中']);
    // Whole characters stay text, also beside bytes in the same token.
    expect(tokenText(encode(' blue')[0] as number)).toBe(' blue');
    expect(tokenText(encode('é')[0] as number)).toBe('é');
    expect(tokenText(EOS_TOKEN_ID)).toBe('<|endoftext|>');
    expect(() => tokenText(GPT2_VOCAB_SIZE)).toThrow(RangeError);
  });

  it('tokenText: no token shows U+FFFD, and every token shows its bytes exactly (round trip over the vocabulary)', () => {
    const utf8 = new TextEncoder();
    const mixed: string[] = [];
    for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
      const text = tokenText(id);
      // Only the vocabulary's own U+FFFD character (EF BF BD) may show as one.
      expect(text.includes('\uFFFD'), `token ${id}`).toBe(Buffer.from(tokenBytes(id)).includes(Buffer.from('\uFFFD')));
      const back = text.split(/(<0x[0-9A-F]{2}>)/).flatMap((part) => (/^<0x[0-9A-F]{2}>$/.test(part) ? [parseInt(part.slice(3, 5), 16)] : [...utf8.encode(part)]));
      expect(Buffer.from(back).equals(Buffer.from(tokenBytes(id))), `token ${id}: ${JSON.stringify(text)}`).toBe(true);
      if (/<0x/.test(text) && /[^<>0-9A-Fx]/.test(text.replace(/<0x[0-9A-F]{2}>/g, ''))) mixed.push(text);
    }
    // Some tokens hold a whole character and part of another: both parts are shown.
    expect(mixed.length).toBeGreaterThan(0);
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

  it('StreamDecoder gives bytes that can never form a character at once, as U+FFFD, holding back only a possible start of one', () => {
    const lead = [...Array(GPT2_VOCAB_SIZE).keys()].find((id) => tokenBytes(id).length === 1 && tokenBytes(id)[0] === 0xec) as number;
    const d = new StreamDecoder();
    // 0xEC starts a 3-byte character: alone it may still be completed, followed by another 0xEC it cannot.
    expect([d.push(lead), d.push(lead), d.push(lead)]).toEqual(['', '\uFFFD', '\uFFFD']);
    expect(d.text()).toBe('\uFFFD'.repeat(3));
    expect(d.push(encode('!')[0] as number)).toBe('\uFFFD!');
  });
});
