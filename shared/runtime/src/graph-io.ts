/**
 * The model graph's input and output names: Hugging Face optimum's decoder layout, so the artifact
 * also runs under other ONNX tools. An empty (length 0) past is the first step.
 *
 * Beyond optimum's outputs, graphs built here also give `present_new.{i}.key|value`: the keys and
 * values of this call's positions only (the last `sequence_length` of `present.*`). onnxruntime-node
 * copies every output it returns into a fresh buffer, so a decode step that fetches `present.*` gets
 * the whole cache back each time; fetching these instead, the caller keeps the cache itself
 * (shared/runtime/src/kv-decoder.ts).
 */
export const GRAPH_IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  logits: 'logits',
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
  presentNewKey: (layer: number) => `present_new.${layer}.key`,
  presentNewValue: (layer: number) => `present_new.${layer}.value`,
} as const;
