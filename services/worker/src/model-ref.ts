import type { ModelRef } from '@gpt2-int8/contract/api';
import type { Manifest, Quantization } from '@gpt2-int8/contract/manifest';
import { ARTIFACT_FILES } from '@gpt2-int8/contract/manifest';

/** A readable label of the quantization, e.g. "int8 per-channel weights, dynamic per-row activations, int8 embedding". */
export function quantizationLabel(q: Quantization): string {
  const activations = q.activations === 'dynamic-per-row' ? 'dynamic per-row' : q.activations;
  const head = 'head_block_size' in q && q.head_block_size !== undefined ? `, LM head and embedding in int8 blocks of ${q.head_block_size}` : '';
  const passes = 'activation_passes' in q && q.activation_passes === 2 ? ' (two passes into the MLP and LM head)' : '';
  return `${q.weights} ${q.granularity} weights, ${activations} activations${passes}, ${q.embedding} embedding${head}`;
}

/** What every result says about the model that produced it. */
export function modelRef(manifest: Manifest): ModelRef {
  return {
    sha256: manifest.files[ARTIFACT_FILES.int8].sha256,
    quantization: quantizationLabel(manifest.quantization),
    synthetic: manifest.synthetic,
  };
}
