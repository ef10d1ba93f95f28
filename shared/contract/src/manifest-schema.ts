/**
 * The manifest's JSON schema (TypeBox). Only what derives checkers and types, and the gateway's
 * API documentation, import this: readers check manifests with the standalone checker generated
 * from it (checks/manifest.generated.ts), so TypeBox's builder stays out of every worker process.
 */
import { type Static, Type } from 'typebox';
import { ARTIFACT_FILES, MANIFEST_FORMAT_VERSION } from './manifest.js';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const fileEntry = (minBytes: number) => Type.Object({ bytes: Type.Integer({ minimum: minBytes }), sha256: Sha256 }, { additionalProperties: false });
const FileEntry = fileEntry(1);

export const Gpt2ConfigSchema = Type.Object(
  {
    n_layer: Type.Integer({ minimum: 1 }),
    n_embd: Type.Integer({ minimum: 1 }),
    n_head: Type.Integer({ minimum: 1 }),
    n_positions: Type.Integer({ minimum: 1 }),
    vocab_size: Type.Integer({ minimum: 1 }),
    layer_norm_epsilon: Type.Number({ exclusiveMinimum: 0 }),
  },
  { additionalProperties: false },
);

export const QuantizationSchema = Type.Union([
  /** MatMulInteger: int8 weights per output channel (or per tensor), activations per row at run time. */
  Type.Object(
    {
      weights: Type.Literal('int8'),
      granularity: Type.Union([Type.Literal('per-channel'), Type.Literal('per-tensor')]),
      activations: Type.Literal('dynamic-per-row'),
      embedding: Type.Literal('int8'),
      /**
       * When set, the LM head and the token embedding instead use int8 blocks of this size along K
       * (MatMulNBits bits 8, activations per block; GatherBlockQuantized), sharing one table.
       */
      head_block_size: Type.Optional(Type.Integer({ minimum: 16 })),
      /**
       * 2: the activations of the widening linears (output at least 4× the input: each MLP's first
       * linear and the LM head) are quantized twice, the row and then its rounding error, and both
       * multiply the same int8 weight. Absent or 1: once, as every other linear's.
       */
      activation_passes: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2)])),
    },
    { additionalProperties: false },
  ),
  /** MatMulNBits (bits = 8): int8 weights in blocks of K, activations per block of each row at run time (int8 compute). */
  Type.Object(
    {
      weights: Type.Literal('int8'),
      granularity: Type.Literal('per-block'),
      block_size: Type.Integer({ minimum: 16 }),
      activations: Type.Literal('dynamic-per-block'),
      embedding: Type.Literal('int8'),
    },
    { additionalProperties: false },
  ),
  /** MatMulNBits: 4-bit weight-only blocks, activations per block at run time (int8 compute). */
  Type.Object(
    {
      weights: Type.Literal('int4'),
      granularity: Type.Literal('per-block'),
      block_size: Type.Integer({ minimum: 16 }),
      activations: Type.Literal('dynamic-per-block'),
      embedding: Type.Literal('int4'),
    },
    { additionalProperties: false },
  ),
]);
export type Quantization = Static<typeof QuantizationSchema>;

export const GraphSchema = Type.Object(
  {
    /**
     * 'past-apart': built by the quantizer, the cache only read and this call's keys and values
     * output (present_new.*); 'exported': an imported export's own, with optimum's present.*.
     */
    attention: Type.Union([Type.Literal('past-apart'), Type.Literal('exported')]),
    /** 'last': logits [batch, 1, vocab]; 'all': every position, as optimum exports it. */
    logits: Type.Union([Type.Literal('last'), Type.Literal('all')]),
  },
  { additionalProperties: false },
);

export const ManifestSchema = Type.Object(
  {
    format_version: Type.Literal(MANIFEST_FORMAT_VERSION),
    tool_version: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    source: Type.Object(
      {
        kind: Type.Union([Type.Literal('hf-dir'), Type.Literal('hub'), Type.Literal('onnx')]),
        id: Type.String({ minLength: 1 }),
        sha256: Sha256,
        /** Sizes and mtimes of the source files: lets a re-run skip re-hashing an unchanged source. */
        stamp: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    synthetic: Type.Boolean(),
    config: Gpt2ConfigSchema,
    quantization: QuantizationSchema,
    graph: GraphSchema,
    files: Type.Object(
      { [ARTIFACT_FILES.int8]: FileEntry, [ARTIFACT_FILES.int8Data]: fileEntry(0), [ARTIFACT_FILES.fp32]: FileEntry, [ARTIFACT_FILES.report]: FileEntry },
      { additionalProperties: false },
    ),
    fp32_bytes: Type.Integer({ minimum: 1 }),
    /** The INT8 model's size: its graph file and its external data together. */
    int8_bytes: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof ManifestSchema>;
