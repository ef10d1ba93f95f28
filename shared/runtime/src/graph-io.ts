/**
 * The model graph's input and output names. Inputs are Hugging Face optimum's decoder inputs; an
 * empty (length 0) past is the first step.
 *
 * Outputs: graphs built by the quantizer (services/quantizer/src/gpt2-graph.ts) give the logits and
 * `present_new.{i}.key|value`, the keys and values of this call's positions only, and the caller
 * keeps the cache (kv-decoder.ts, batch-decoder.ts): a graph that outputs the whole cache
 * (`present.*`, past and new concatenated) copies it every call, fetched or not. Imported optimum
 * exports keep their `present.*`, which is fed back as the next past (gpt2-session.ts).
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
