import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { ARTIFACT_FILES, readManifest } from '@gpt2-int8/contract/manifest';
import { BatchDecoder, type DecodingRow } from './batch-decoder.js';
import { Prefill } from './prefill.js';
import { Gpt2Session } from './gpt2-session.js';
import { startDecoding } from './kv-decoder.js';
import { argmax } from './logits.js';

/** A row's own bytes: a step's logits are views of one buffer for all its rows. */
const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
const promptOf = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 131 + seed * 977 + 7) % 50000);

/** Greedy tokens and every step's logits of one sequence. */
interface Trace {
  tokens: number[];
  logits: Float32Array[];
}

describe('batched decoding through the KV cache', () => {
  let session: Gpt2Session;
  beforeAll(async () => {
    const manifest = await readManifest(tinyArtifact());
    session = await Gpt2Session.load(join(tinyArtifact(), ARTIFACT_FILES.int8), manifest.config);
  });
  afterAll(async () => session.release());

  /** Decodes `prompts` greedily, sequence i joining at step joins[i] and leaving after steps[i] tokens. */
  async function decode(prompts: number[][], joins: number[], steps: number[]): Promise<Trace[]> {
    const decoder = new BatchDecoder(session);
    const traces: Trace[] = prompts.map(() => ({ tokens: [], logits: [] }));
    const rows = new Map<number, DecodingRow>();
    const next = new Map<number, number>();
    for (let t = 0; rows.size > 0 || prompts.some((_, i) => (joins[i] as number) >= t); t++) {
      for (let i = 0; i < prompts.length; i++) {
        if (joins[i] !== t) continue;
        const prefill = await Prefill.run(session, prompts[i] as number[]);
        const logits = prefill.logits as Float32Array;
        (traces[i] as Trace).logits.push(logits);
        (traces[i] as Trace).tokens.push(argmax(logits));
        next.set(i, argmax(logits));
        rows.set(i, decoder.join(prefill));
      }
      const order = [...rows.entries()].sort((a, b) => a[1].row - b[1].row);
      if (order.length === 0) continue;
      const out = await decoder.step(order.map(([i]) => next.get(i) as number));
      order.forEach(([i, row], r) => {
        const trace = traces[i] as Trace;
        const logits = out[r] as Float32Array;
        trace.logits.push(logits);
        trace.tokens.push(argmax(logits));
        next.set(i, argmax(logits));
        if (trace.tokens.length > (steps[i] as number)) {
          decoder.leave(row);
          rows.delete(i);
        }
      });
    }
    return traces;
  }

  it('gives every sequence the same logits, bit for bit, alone and among others joining and leaving', async () => {
    const n = 12;
    const prompts = Array.from({ length: n }, (_, i) => promptOf(1 + ((i * 37) % 90), i));
    const joins = Array.from({ length: n }, (_, i) => (i * 5) % 17);
    const steps = Array.from({ length: n }, (_, i) => 5 + ((i * 11) % 40));
    const together = await decode(prompts, joins, steps);
    for (let i = 0; i < n; i++) {
      const [alone] = await decode([prompts[i] as number[]], [0], [steps[i] as number]);
      const a = alone as Trace;
      const b = together[i] as Trace;
      expect(b.tokens, `sequence ${i}`).toEqual(a.tokens);
      expect(b.logits.length).toBe(a.logits.length);
      a.logits.forEach((l, s) => expect(bytes(b.logits[s] as Float32Array).equals(bytes(l)), `sequence ${i}, step ${s}`).toBe(true));
    }
  });

  it('gives spare slots back only once they have been spare for shrinkAfterSteps steps', async () => {
    const decoder = new BatchDecoder(session, 4);
    const short = decoder.join(await Prefill.run(session, promptOf(3, 1)));
    const middle = decoder.join(await Prefill.run(session, promptOf(20, 2)));
    const long = decoder.join(await Prefill.run(session, promptOf(40, 3)));
    expect(decoder.slots).toBe(48); // 41 positions, in groups of 16
    decoder.leave(long);
    for (let s = 0; s < 6; s++) await decoder.step([1, 2]);
    expect(decoder.slots).toBe(48); // the middle one needs 32: one group spare, kept
    decoder.leave(middle);
    for (let s = 0; s < 3; s++) await decoder.step([3]);
    expect(decoder.slots).toBe(48); // two groups spare for 3 steps: kept
    const [logits] = await decoder.step([4]);
    expect(decoder.slots).toBe(16); // for 4: given back before the 4th step ran
    expect(logits).toHaveLength(session.config.vocab_size);
    decoder.leave(short);
  });

  it('computes what the one-sequence decoder computes (same greedy tokens)', async () => {
    const prompt = promptOf(70, 3);
    const [batched] = await decode([prompt], [0], [40]);
    const single = await startDecoding(session, prompt);
    const tokens = [argmax(single.logits)];
    for (let s = 0; s < 40; s++) tokens.push(argmax(await single.next(tokens[tokens.length - 1] as number)));
    expect((batched as Trace).tokens).toEqual(tokens);
  });
});
