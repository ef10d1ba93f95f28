import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { fakeHeartbeat } from '../../../test/support/fake-model.js';
import { Admission } from './admission.js';

/** Redis as admission sees it: a queue depth and heartbeats, with every read counted. */
function fakes(depth: number, heartbeats: WorkerHeartbeat[] = [fakeHeartbeat('w1')]) {
  const state = { depth, heartbeats, countReads: 0, heartbeatReads: 0 };
  const jobs = {
    connected: true,
    counts: async () => {
      state.countReads++;
      return { waiting: state.depth, active: 0 };
    },
  };
  const workers = {
    heartbeats: async () => {
      state.heartbeatReads++;
      return state.heartbeats;
    },
  };
  return { state, admission: new Admission(jobs, workers, 100) };
}

/** Lets the background reads started by the last admit run (they wait for one setImmediate) and finish. */
const settle = async () => {
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
};

describe('Admission', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => vi.useRealTimers());

  it('a request after a pause is admitted on what was read before, and has it read again in the background', async () => {
    const { state, admission } = fakes(0);
    await admission.admit();
    expect([state.countReads, state.heartbeatReads]).toEqual([1, 1]);
    vi.advanceTimersByTime(600);
    await admission.admit();
    // Admitted without waiting for either read; both are sent once the request's own commands are.
    expect([state.countReads, state.heartbeatReads]).toEqual([1, 1]);
    await settle();
    expect([state.countReads, state.heartbeatReads]).toEqual([2, 2]);
    await admission.admit();
    expect([state.countReads, state.heartbeatReads]).toEqual([2, 2]);
  });

  it('reads the depth before answering once it is older than a second, or near the limit', async () => {
    const { state, admission } = fakes(0);
    await admission.admit();
    vi.advanceTimersByTime(1001);
    state.depth = 100;
    await expect(admission.admit()).rejects.toMatchObject({ statusCode: 503, code: 'QUEUE_FULL' });
    state.depth = 60;
    await admission.admit();
    vi.advanceTimersByTime(10);
    // 61 of 100 (60 read, one admitted since) is past half the limit: read again, not believed.
    state.depth = 100;
    await expect(admission.admit()).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  });

  it('a burst waits for one read and is admitted only up to the limit (each sending its own read, all saw the depth from before the burst)', async () => {
    const { state, admission } = fakes(0);
    await admission.admit();
    vi.advanceTimersByTime(1001);
    state.depth = 1;
    const outcomes = await Promise.all(Array.from({ length: 300 }, () => admission.admit().then(() => 'admitted', (e: { code: string }) => e.code)));
    expect(outcomes.filter((o) => o === 'admitted')).toHaveLength(99);
    expect(outcomes.filter((o) => o === 'QUEUE_FULL')).toHaveLength(201);
    expect(state.countReads).toBe(2);
  });

  it('jobs admitted while a depth read is under way count on top of what it reads', async () => {
    const { state, admission } = fakes(0);
    await admission.admit();
    vi.advanceTimersByTime(1001);
    // The read sent by the next request finds 40 waiting, none of them the 9 admitted meanwhile.
    state.depth = 40;
    const first = admission.admit();
    const meanwhile = Array.from({ length: 9 }, () => admission.admit());
    await Promise.all([first, ...meanwhile]);
    // 40 + 10 admitted is half the limit: the next request reads again before answering.
    state.depth = 95;
    await admission.admit();
    expect(state.countReads).toBe(3);
  });

  it('re-reads "no worker is ready" every time, so a worker that just came up is used at once', async () => {
    const { state, admission } = fakes(0, []);
    await expect(admission.admit()).rejects.toMatchObject({ code: 'NO_WORKER' });
    state.heartbeats = [fakeHeartbeat('w1')];
    await admission.admit();
    expect(state.heartbeatReads).toBe(2);
  });

  it('a background read that finds no worker ready makes the next request read again before answering', async () => {
    const { state, admission } = fakes(0);
    await admission.admit();
    vi.advanceTimersByTime(600);
    state.heartbeats = [];
    await admission.admit();
    await settle();
    await expect(admission.admit()).rejects.toMatchObject({ code: 'NO_WORKER' });
  });
});
