import { describe, expect, it } from 'vitest';
import { ModelSlot } from './model-slot.js';
import type { ServedModel } from './served-model.js';

const model = (name: string) => ({ ref: { sha256: name } }) as unknown as ServedModel;

/** A job that runs until `finish` is called, reporting the model it ran on. */
function heldJob(slot: ModelSlot) {
  let finish = () => {};
  let started = false;
  const done = slot.run(async (m) => {
    started = true;
    await new Promise<void>((resolve) => (finish = resolve));
    return m.ref.sha256;
  });
  return { done, finish: () => finish(), started: () => started };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('ModelSlot', () => {
  it('switches once the jobs on the old model have finished; jobs arriving meanwhile run on the new one', async () => {
    const slot = new ModelSlot(model('old'));
    const a = heldJob(slot);
    const b = heldJob(slot);
    await tick();
    expect(slot.running).toBe(2);

    let switched = false;
    const switching = slot.switchTo(model('new')).then((r) => {
      switched = true;
      return r;
    });
    const c = heldJob(slot);
    await tick();
    // Still draining: c waits, the old model is current.
    expect([switched, c.started(), slot.current.ref.sha256]).toEqual([false, false, 'old']);
    a.finish();
    await tick();
    expect(switched).toBe(false);
    b.finish();
    const { old, heldMs } = await switching;
    expect([old.ref.sha256, slot.current.ref.sha256]).toEqual(['old', 'new']);
    expect(heldMs).toBeGreaterThan(0);
    expect(await a.done).toBe('old');
    expect(await b.done).toBe('old');
    await tick();
    expect(c.started()).toBe(true);
    c.finish();
    expect(await c.done).toBe('new');
  });

  it('switches at once when no job runs', async () => {
    const slot = new ModelSlot(model('old'));
    await slot.switchTo(model('new'));
    expect(await slot.run(async (m) => m.ref.sha256)).toBe('new');
  });
});
