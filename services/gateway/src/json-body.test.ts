import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstInvalidUtf8, firstLoneSurrogate } from './json-body.js';

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
const strict = new TextDecoder('utf-8', { fatal: true });
const decodes = (b: Uint8Array) => {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
};

describe('firstInvalidUtf8', () => {
  it('is -1 for UTF-8, including 2-, 3- and 4-byte characters at the edges of their ranges', () => {
    for (const s of ['', '{"prompt":"a"}', 'café', '中文', '😀', '\u0080\u07FF\u0800\uFFFF\u{10000}\u{10FFFF}', '\uFFFD']) expect(firstInvalidUtf8(bytes(s)), s).toBe(-1);
  });

  it('gives the offset where the first ill-formed sequence starts', () => {
    expect(firstInvalidUtf8(bytes('{"prompt":"caf', [0xe9], '"}'))).toBe(14); // Latin-1 é
    expect(firstInvalidUtf8(bytes('ab', [0xff]))).toBe(2);
    expect(firstInvalidUtf8(bytes('ab', [0x80]))).toBe(2); // a lone continuation byte
    expect(firstInvalidUtf8(bytes('a', [0xc0, 0xaf]))).toBe(1); // overlong "/"
    expect(firstInvalidUtf8(bytes('a', [0xe0, 0x80, 0xaf]))).toBe(1); // overlong
    expect(firstInvalidUtf8(bytes('a', [0xed, 0xa0, 0x80]))).toBe(1); // a UTF-16 surrogate
    expect(firstInvalidUtf8(bytes('a', [0xf4, 0x90, 0x80, 0x80]))).toBe(1); // past U+10FFFF
    expect(firstInvalidUtf8(bytes('中', [0xe6, 0x96]))).toBe(3); // cut short at the end
    expect(firstInvalidUtf8(bytes('😀', [0xf0, 0x9f, 0x41]))).toBe(4); // cut short by ASCII
  });

  it('agrees with a fatal TextDecoder on arbitrary bytes, and everything before the offset decodes', () => {
    fc.assert(
      // Runs of real characters (of every length) mixed with arbitrary bytes.
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }).map((t) => [...Buffer.from(t, 'utf8')]), fc.uint8Array({ maxLength: 3 }).map((a) => [...a])), { maxLength: 8 }), (parts) => {
        const b = Uint8Array.from(parts.flat());
        const at = firstInvalidUtf8(b);
        expect(at === -1).toBe(decodes(b));
        if (at >= 0) expect(decodes(b.subarray(0, at))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('firstLoneSurrogate', () => {
  it('finds the first string holding half a surrogate pair, in document order, naming the field and the offset', () => {
    expect(firstLoneSurrogate({ prompt: 'ab\ud83dcd' })).toEqual({ field: 'prompt', inName: false, offset: 2, unit: 0xd83d });
    expect(firstLoneSurrogate({ model: 'm', messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: [{ type: 'text', text: '\ude00' }] }] })).toEqual({
      field: 'messages[1].content[0].text',
      inName: false,
      offset: 0,
      unit: 0xde00,
    });
    expect(firstLoneSurrogate({ a: 'x\udbff', b: '\ud800' })?.field).toBe('a');
    expect(firstLoneSurrogate({ stop: { 'k\ud800': 1 } })).toEqual({ field: 'stop', inName: true, offset: 1, unit: 0xd800 });
    expect(firstLoneSurrogate('\udfff')?.field).toBe('body');
  });

  it('passes whole pairs, other text and non-strings', () => {
    expect(firstLoneSurrogate({ prompt: 'a\ud83d\ude00b 中文 \uffff', n: 1, x: null, y: [true, {}] })).toBeUndefined();
  });

  it('walks nesting deeper than the call stack', () => {
    let deep: unknown = '\ud800';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(firstLoneSurrogate({ deep })?.field).toBe(`deep${'[0]'.repeat(200_000)}`);
  });

  it('agrees with UTF-8 round trips on arbitrary UTF-16', () => {
    const roundTrips = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map((n) => String.fromCharCode(n)), maxLength: 6 }), { maxLength: 4 }), (strings) => {
        expect(firstLoneSurrogate(strings) === undefined).toBe(strings.every(roundTrips));
      }),
      { numRuns: 2000 },
    );
  });
});
