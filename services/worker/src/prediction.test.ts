import { describe, expect, it } from 'vitest';
import { encode } from '@gpt2-int8/runtime/tokenizer';
import { predictionOf } from './prediction.js';

describe('predictionOf', () => {
  it('lists tokens that are part of a character by their bytes, not as indistinguishable U+FFFD', () => {
    // 文 (E6 96 87) and 語 (E8 AA 9E) are two byte-level tokens each; their first tokens differ only in bytes.
    const [wen] = encode('文') as [number];
    const [yu] = encode('語') as [number];
    const [blue] = encode(' blue') as [number];
    const p = predictionOf([
      { id: wen, prob: 0.4 },
      { id: yu, prob: 0.3 },
      { id: blue, prob: 0.2 },
    ]);
    expect(p.token).toBe('<0xE6><0x96>');
    expect(p.token_id).toBe(wen);
    expect(p.top_k.map((t) => t.token)).toEqual(['<0xE6><0x96>', '<0xE8><0xAA>', ' blue']);
    expect(p.top_k.some((t) => t.token.includes('\uFFFD'))).toBe(false);
  });
});
