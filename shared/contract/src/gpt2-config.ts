/**
 * The GPT-2 hyper-parameters every stage agrees on: read from a checkpoint's config.json, written
 * into the artifact manifest, and checked by the worker against the graph it loads.
 */
export interface Gpt2Config {
  n_layer: number;
  n_embd: number;
  n_head: number;
  n_positions: number;
  vocab_size: number;
  layer_norm_epsilon: number;
}

/** The activation functions that are GPT-2's tanh-approximated GELU under the names HF uses. */
const GELU_TANH = new Set(['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']);

/** A config.json that is not a GPT-2 this project can build. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

function positiveInt(raw: Record<string, unknown>, key: string, where: string): number {
  const v = raw[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelConfigError(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Validates a Hugging Face GPT-2 config.json object. `where` names the file in error messages.
 * Accepts the aliases HF has used over time (n_ctx for n_positions) and refuses anything that is
 * not GPT-2's architecture, since the graph builder only knows that one.
 */
export function parseGpt2Config(raw: unknown, where: string): Gpt2Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ModelConfigError(`${where}: expected a JSON object`);
  }
  const o = raw as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== 'gpt2') {
    throw new ModelConfigError(`${where}: model_type is "${String(o.model_type)}", only "gpt2" checkpoints are supported`);
  }
  if (o.model_type === undefined && !Array.isArray(o.architectures)) {
    throw new ModelConfigError(`${where}: no model_type; this does not look like a GPT-2 config.json`);
  }
  const act = o.activation_function ?? 'gelu_new';
  if (typeof act !== 'string' || !GELU_TANH.has(act)) {
    throw new ModelConfigError(`${where}: activation_function "${String(act)}" is not supported (expected one of ${[...GELU_TANH].join(', ')})`);
  }
  const withPositions = o.n_positions === undefined && o.n_ctx !== undefined ? { ...o, n_positions: o.n_ctx } : o;
  const cfg: Gpt2Config = {
    n_layer: positiveInt(withPositions, 'n_layer', where),
    n_embd: positiveInt(withPositions, 'n_embd', where),
    n_head: positiveInt(withPositions, 'n_head', where),
    n_positions: positiveInt(withPositions, 'n_positions', where),
    vocab_size: positiveInt(withPositions, 'vocab_size', where),
    layer_norm_epsilon: typeof o.layer_norm_epsilon === 'number' && o.layer_norm_epsilon > 0 ? o.layer_norm_epsilon : 1e-5,
  };
  if (cfg.n_embd % cfg.n_head !== 0) {
    throw new ModelConfigError(`${where}: n_embd (${cfg.n_embd}) is not divisible by n_head (${cfg.n_head})`);
  }
  if (o.n_inner !== undefined && o.n_inner !== null && o.n_inner !== 4 * cfg.n_embd) {
    throw new ModelConfigError(`${where}: n_inner ${String(o.n_inner)} is not supported (GPT-2 uses 4 × n_embd)`);
  }
  return cfg;
}
