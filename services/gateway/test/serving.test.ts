import { describe, expect, it } from 'vitest';
import type { WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { servingOf } from '../src/serving.js';
import { summarize } from '../src/workers.js';

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);

function hb(id: string, sha256: string | undefined, extra: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  return {
    id,
    state: 'ready',
    ...(sha256 ? { model: { sha256, quantization: 'int8', synthetic: true } } : {}),
    pid: 1,
    host: 'h',
    at: 0,
    ...extra,
  };
}

describe('what the workers serve, against the artifact in MODEL_DIR', () => {
  it('current: every ready worker serves it', () => {
    expect(servingOf([hb('w1', NEW), hb('w2', NEW), hb('w3', undefined, { state: 'loading' })], NEW)).toEqual({
      status: 'current',
      message: `2 workers serve ${NEW.slice(0, 12)}, the artifact in MODEL_DIR (${NEW.slice(0, 12)})`,
      models: [{ sha256: NEW, workers: 2 }],
      artifact_sha256: NEW,
    });
  });

  it('swapping: mid-swap the workers disagree; the most served first, the new one first on a tie', () => {
    const s = servingOf([hb('w1', OLD), hb('w2', NEW)], NEW);
    expect(s.status).toBe('swapping');
    expect(s.models).toEqual([
      { sha256: NEW, workers: 1 },
      { sha256: OLD, workers: 1 },
    ]);
    expect(s.message).toBe(`the workers are moving to the artifact in MODEL_DIR (${NEW.slice(0, 12)}), one at a time: 1 worker serves ${NEW.slice(0, 12)}, 1 worker serves ${OLD.slice(0, 12)}`);
    // Before the first worker has swapped, too.
    expect(servingOf([hb('w1', OLD), hb('w2', OLD)], NEW).status).toBe('swapping');
  });

  it('refused: the workers keep the previous model and say why, without paths', () => {
    const refused = { swap: { state: 'refused' as const, sha256: NEW, reason: '/srv/models/current/model.int8.onnx is 4096 bytes, the manifest says 9 (truncated or replaced)' } };
    const s = servingOf([hb('w1', OLD, refused), hb('w2', OLD, refused)], NEW);
    expect(s).toMatchObject({ status: 'refused', models: [{ sha256: OLD, workers: 2 }], artifact_sha256: NEW });
    expect(s.message).toBe(`the artifact in MODEL_DIR (${NEW.slice(0, 12)}) was refused by worker w1: model.int8.onnx is 4096 bytes, the manifest says 9 (truncated or replaced); 2 workers serve ${OLD.slice(0, 12)}`);
    const summary = summarize([hb('w1', OLD, refused)]);
    expect(summary.refusals).toEqual([`worker w1 refused the new artifact and keeps serving ${OLD.slice(0, 12)}: model.int8.onnx is 4096 bytes, the manifest says 9 (truncated or replaced)`]);
  });

  it('no_worker: nothing is ready', () => {
    expect(servingOf([hb('w1', undefined, { state: 'error', reason: 'x' })], null)).toMatchObject({ status: 'no_worker', models: [], artifact_sha256: null });
  });
});
