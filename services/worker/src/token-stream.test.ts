import { describe, expect, it } from 'vitest';
import type { GeneratedToken } from '@gpt2-int8/contract/api';
import { decode, encode } from '@gpt2-int8/runtime/tokenizer';
import { Rng } from '@gpt2-int8/runtime/prng';
import { firstStop, partialStopSuffix, TokenStream } from './token-stream.js';

/** Pushes every id, collecting what would be streamed; stops when a stop string ends the stream. */
function run(ids: number[], stops: string[] = []): { streamed: GeneratedToken[]; stream: TokenStream; pushed: number } {
  const stream = new TokenStream(stops);
  const streamed: GeneratedToken[] = [];
  let pushed = 0;
  for (const id of ids) {
    streamed.push(...stream.push(id));
    pushed++;
    if (stream.stoppedByString) break;
  }
  streamed.push(...stream.finish());
  return { streamed, stream, pushed };
}

describe('TokenStream', () => {
  it('streams each token’s text; the pieces add up to the decoded text', () => {
    const ids = encode(' The sky is blue today.');
    const { streamed, stream } = run(ids);
    expect(streamed.map((e) => e.token_id)).toEqual(ids);
    expect(streamed.map((e) => e.index)).toEqual(ids.map((_, i) => i));
    expect(streamed.map((e) => e.token).join('')).toBe(' The sky is blue today.');
    expect(stream.text()).toBe(' The sky is blue today.');
    expect(stream.events()).toEqual(streamed);
  });

  it('never splits a multi-byte character: the completing token carries it', () => {
    const ids = encode('你好 😀!');
    const { streamed } = run(ids);
    expect(streamed.every((e) => !e.token.includes('\uFFFD'))).toBe(true);
    expect(streamed.map((e) => e.token).join('')).toBe('你好 😀!');
    // The first half of 你 streams as '' and the second carries the character.
    expect(streamed[0]?.token).toBe('');
    expect(streamed[1]?.token).toBe('你');
  });

  it('holds an event back while its character is incomplete', () => {
    const [a, b] = encode('😀') as [number, number];
    const s = new TokenStream();
    expect(s.push(a)).toEqual([]);
    expect(s.push(b).map((e) => e.token)).toEqual(['', '😀']);
  });

  it('shows a character left incomplete at the end as U+FFFD on the last event', () => {
    const ids = encode('ok 😀').slice(0, -1);
    const { streamed, stream } = run(ids);
    expect(stream.text()).toBe(decode(ids));
    expect(streamed[streamed.length - 1]?.token.endsWith('\uFFFD')).toBe(true);
    expect(streamed).toHaveLength(ids.length);
  });

  it('stops at a stop string spanning tokens, cuts it from the text and never streams it', () => {
    const ids = encode('Hello world. The end');
    const s = new TokenStream(['. The']);
    const streamedTexts: string[] = [];
    let stoppedAt = -1;
    ids.forEach((id, i) => {
      if (s.stoppedByString) return;
      streamedTexts.push(...s.push(id).map((e) => e.token));
      if (s.stoppedByString) stoppedAt = i;
    });
    expect(stoppedAt).toBe(3); // after " The"
    expect(streamedTexts.join('')).toBe('Hello world');
    expect(s.text()).toBe('Hello world');
    expect(s.events().map((e) => e.token_id)).toEqual(ids.slice(0, 2));
    expect(s.finish()).toEqual([]);
  });

  it('cuts inside a token when the stop string starts mid-token', () => {
    // " world" contains "orl": the event for " world" is truncated to " w".
    const { stream } = run(encode('Hello world again'), ['orl']);
    expect(stream.text()).toBe('Hello w');
    expect(stream.events().map((e) => e.token)).toEqual(['Hello', ' w']);
    expect(stream.stoppedByString).toBe(true);
  });

  it('releases text held as a possible stop prefix once it turns out not to be one', () => {
    const ids = encode('a.b. c');
    const s = new TokenStream(['. d']);
    const out: string[] = [];
    for (const id of ids) out.push(...s.push(id).map((e) => e.token));
    out.push(...s.finish().map((e) => e.token));
    expect(out.join('')).toBe('a.b. c');
    expect(s.stoppedByString).toBe(false);
  });

  it('stops at a stop string at the very start (empty text)', () => {
    const { stream, pushed } = run(encode('\n\nHello'), ['\n']);
    expect(stream.text()).toBe('');
    expect(stream.events()).toEqual([]);
    expect(pushed).toBe(1);
  });

  it('keeps the streamed pieces equal to the final text on random token sequences', () => {
    const rng = new Rng(9);
    const vocab = [...encode('ab.\n 你😀 the end. STOP'), 220, 198, 13];
    for (let trial = 0; trial < 300; trial++) {
      const ids = Array.from({ length: 12 }, () => vocab[Math.floor(rng.uniform() * vocab.length)] as number);
      const stops = trial % 3 === 0 ? [] : ['. ', 'STOP', '😀'];
      const { streamed, stream } = run(ids, stops);
      expect(streamed.map((e) => e.token).join('')).toBe(stream.text());
      const full = decode(ids);
      const cut = firstStop(full, stops);
      // Without a stop string the whole decoded text streams; with one, everything before it.
      if (cut === undefined && !stream.stoppedByString) expect(stream.text()).toBe(full);
      if (stream.stoppedByString) expect(firstStop(stream.text(), stops)).toBeUndefined();
      expect(streamed.map((e) => e.index)).toEqual(streamed.map((_, i) => i));
    }
  });
});

describe('stop string helpers', () => {
  it('firstStop finds the earliest of several', () => {
    expect(firstStop('abc. def\n', ['\n', '. '])).toBe(3);
    expect(firstStop('abc', ['x'])).toBeUndefined();
    expect(firstStop('abc', [])).toBeUndefined();
  });

  it('partialStopSuffix measures a tail that may grow into a stop string', () => {
    expect(partialStopSuffix('hello wor', ['world'])).toBe(3);
    expect(partialStopSuffix('hello', ['world'])).toBe(0);
    expect(partialStopSuffix('hello w', ['world', 'lo w!'])).toBe(4);
    expect(partialStopSuffix('abc', ['c'])).toBe(0); // a whole stop string is not a partial one
  });
});
