import { describe, expect, it } from 'vitest';
import { readManifest, verifyArtifactFile } from '@gpt2-int8/contract/manifest';
import { tinyArtifact } from './tiny-artifact.js';

describe('the shared tiny artifact', () => {
  it('is a complete, verified, synthetic artifact', async () => {
    const manifest = await readManifest(tinyArtifact());
    expect(manifest.synthetic).toBe(true);
    expect(manifest.config.vocab_size).toBe(50257);
    await expect(verifyArtifactFile(tinyArtifact(), manifest, 'model.int8.onnx')).resolves.toContain('model.int8.onnx');
  });
});
