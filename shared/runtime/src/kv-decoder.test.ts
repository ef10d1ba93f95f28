import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';
import { Gpt2Session } from './gpt2-session.js';
import { PresentDecoding, SlotCacheDecoding, startDecoding } from './kv-decoder.js';
import { argmax, maxAbsDifference } from './logits.js';
import { Prefill } from './prefill.js';
import { ARTIFACT_FILES, readManifest } from '@gpt2-int8/contract/manifest';

describe.each([ARTIFACT_FILES.int8, ARTIFACT_FILES.fp32])('decoding through the KV cache (%s)', (file) => {
  let session: Gpt2Session;
  beforeAll(async () => {
    const manifest = await readManifest(tinyArtifact());
    session = await Gpt2Session.load(join(tinyArtifact(), file), manifest.config);
  });
  afterAll(async () => session.release());

  it('uses the slot cache when the graph gives the new positions, with the same logits as feeding the grown cache back', async () => {
    const prompt = Array.from({ length: 30 }, (_, i) => (i * 131 + 7) % 50000);
    const slots = await startDecoding(session, prompt);
    expect(slots).toBeInstanceOf(SlotCacheDecoding);
    const prefill = await Prefill.run(session, prompt);
    const plain = new PresentDecoding(session, prefill.cache, prefill.logits as Float32Array);
    expect(maxAbsDifference(slots.logits, plain.logits)).toBeLessThanOrEqual(1e-5);
    // 90 greedy steps: the slot buffers grow several times on the way (SLOT_GROWTH).
    for (let step = 0; step < 90; step++) {
      const token = argmax(plain.logits);
      expect(argmax(slots.logits)).toBe(token);
      const [a, b] = [await slots.next(token), await plain.next(token)];
      expect(slots.length).toBe(plain.length);
      expect(maxAbsDifference(a, b), `step ${step}`).toBeLessThanOrEqual(1e-5);
    }
    expect(slots.length).toBe(120);
  });
});
