import { describe, expect, it } from 'vitest';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { checkGraph, checkProbe, checkTokenizerFits } from './graph-check.js';

const config: Gpt2Config = { n_layer: 2, n_embd: 64, n_head: 4, n_positions: 128, vocab_size: 50257, layer_norm_epsilon: 1e-5 };

function signature(layers: number, head = 4, dim = 16, vocab = 50257, cache: 'present' | 'present_new' = 'present') {
  const inputs = ['input_ids', 'attention_mask', 'position_ids'];
  const outputs = ['logits'];
  const shapes = new Map<string, Array<number | string>>([['logits', ['batch_size', 'sequence_length', vocab]]]);
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value']) {
      inputs.push(`past_key_values.${l}.${kind}`);
      outputs.push(`${cache}.${l}.${kind}`);
      shapes.set(`past_key_values.${l}.${kind}`, ['batch_size', head, 'past_sequence_length', dim]);
      shapes.set(`${cache}.${l}.${kind}`, ['batch_size', head, cache === 'present' ? 'total_sequence_length' : 'sequence_length', dim]);
    }
  }
  return { inputNames: inputs, outputNames: outputs, shapes };
}

// Graphs built by the quantizer give this call's keys and values (present_new.*); optimum's exports the whole present.*.
describe.each(['present_new', 'present'] as const)('checkGraph, the cache as %s.*', (cache) => {
  it('accepts a graph that matches', () => {
    expect(checkGraph(signature(2, 4, 16, 50257, cache), config)).toEqual([]);
  });

  it('names missing layers', () => {
    const problems = checkGraph(signature(1, 4, 16, 50257, cache), config);
    expect(problems.join('\n')).toMatch(/no input past_key_values\.1\.key/);
    expect(problems.join('\n')).toContain(`no output ${cache}.1.key`);
  });

  it('names extra layers', () => {
    expect(checkGraph(signature(3, 4, 16, 50257, cache), config).join('\n')).toMatch(/3 or more layers .* n_layer=2/);
  });

  it('names wrong head counts, head sizes and vocabulary', () => {
    expect(checkGraph(signature(2, 8, 8, 50257, cache), config).join('\n')).toContain(`${cache}.0.key has n_head 8, the manifest says 4`);
    expect(checkGraph(signature(2, 8, 8, 50257, cache), config).join('\n')).toMatch(/head size 8, the manifest says 16/);
    expect(checkGraph(signature(2, 4, 16, 100, cache), config).join('\n')).toMatch(/vocab_size 100, the manifest says 50257/);
  });
});

describe('checkGraph', () => {
  it('names missing basic inputs', () => {
    const s = signature(2);
    s.inputNames = s.inputNames.filter((n) => n !== 'position_ids');
    expect(checkGraph(s, config)).toEqual(['the graph has no input position_ids']);
  });
});

describe('checkProbe and checkTokenizerFits', () => {
  it('compares a probe step’s shapes with the config', () => {
    const ok = { logitsLength: 2 * 50257, batch: 1, seq: 2, positions: 2, presentDims: [[1, 4, 2, 16], [1, 4, 2, 16]] };
    expect(checkProbe(ok, config)).toEqual([]);
    expect(checkProbe({ ...ok, logitsLength: 50257, positions: 1 }, config)).toEqual([]);
    expect(checkProbe({ ...ok, logitsLength: 200 }, config).join()).toMatch(/200 logits for 2 position\(s\), expected 50257 or 100514/);
    expect(checkProbe({ ...ok, logitsLength: 3 * 50257, positions: 3 }, config).join()).toMatch(/for 3 position/);
    expect(checkProbe({ ...ok, presentDims: [[1, 2, 2, 32]] }, config).join()).toMatch(/\[1, 2, 2, 32\] for layer 0/);
  });

  it('refuses a vocabulary smaller than the tokenizer’s', () => {
    expect(checkTokenizerFits(config)).toEqual([]);
    expect(checkTokenizerFits({ ...config, vocab_size: 50304 })).toEqual([]);
    expect(checkTokenizerFits({ ...config, vocab_size: 97 })[0]).toMatch(/97 is smaller/);
  });
});
