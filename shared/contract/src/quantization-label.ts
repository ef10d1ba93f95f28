import type { Quantization } from './manifest-schema.js';

/**
 * A readable label of the quantization, e.g. "int8 per-channel weights, dynamic per-row activations,
 * int8 embedding": every answer's model.quantization (the worker), the page's model card (the
 * gateway's GET /api/model) and GET /v1/models' meta say the same.
 */
export function quantizationLabel(q: Quantization): string {
  const activations = q.activations === 'dynamic-per-row' ? 'dynamic per-row' : q.activations;
  const head = 'head_block_size' in q && q.head_block_size !== undefined ? `, LM head and embedding in int8 blocks of ${q.head_block_size}` : '';
  const passes = 'activation_passes' in q && q.activation_passes === 2 ? ' (two passes into the MLP and LM head)' : '';
  return `${q.weights} ${q.granularity} weights, ${activations} activations${passes}, ${q.embedding} embedding${head}`;
}
