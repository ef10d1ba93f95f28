import { describe, expect, it } from 'vitest';
import { DT, GraphBuilder, modelProto } from '@gpt2-int8/runtime/onnx-graph-builder';
import { declaredRows, withoutDeclaredShapes } from './declared-rows.js';

function graph() {
  const b = new GraphBuilder();
  const x = b.input('x', DT.FLOAT, ['batch', 'seq', 8]);
  b.declare(b.op('Relu', [x], {}, '', 'a'), DT.FLOAT, ['batch', 'seq', 8]);
  b.declare(b.op('Relu', [x], {}, '', 'b'), DT.FLOAT, ['batch', 'seq', 32]);
  b.declare(b.op('Relu', [x], {}, '', 'c'), DT.FLOAT, ['batch', 1, 8]);
  b.declare(b.op('Relu', [x], {}, '', 'd'), DT.FLOAT, ['batch', '', 8]);
  b.declare(b.op('Relu', [x], {}, '', 'e'), DT.FLOAT, [8]);
  b.op('Relu', [x], {}, '', 'f');
  return b.graph('g');
}

describe('declaredRows', () => {
  const rows = declaredRows(graph());

  it('gives tensors with the same leading dimensions the same key, whatever their last', () => {
    expect(rows('a')).toBeDefined();
    expect(rows('a')).toBe(rows('b'));
    expect(rows('c')).toBeDefined();
    expect(rows('c')).not.toBe(rows('a'));
  });

  it('gives no key where a leading dimension is unnamed, there are none, or nothing is declared', () => {
    expect(rows('d')).toBeUndefined();
    expect(rows('e')).toBeUndefined();
    expect(rows('f')).toBeUndefined();
    expect(rows('x')).toBeUndefined();
  });

  it('withoutDeclaredShapes drops the declarations and nothing else', () => {
    const model = modelProto(graph());
    const stripped = withoutDeclaredShapes(model);
    expect(stripped.graph?.valueInfo ?? []).toHaveLength(0);
    expect(stripped.graph?.node).toEqual(model.graph?.node);
    expect(model.graph?.valueInfo).toHaveLength(5);
  });
});
