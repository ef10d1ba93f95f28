import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Supervisor } from './supervisor.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A stand-in process: `kill` records the signal and exits it, as a service draining quickly would. */
class FakeChild extends EventEmitter {
  readonly signals: string[] = [];
  kill(signal: NodeJS.Signals): boolean {
    this.signals.push(signal);
    this.emit('exit', null, signal);
    return true;
  }
  die(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.emit('exit', code, signal);
  }
}

function setup(notReady = new Set<string>()) {
  vi.useFakeTimers({ now: 0 });
  const launched: Record<string, FakeChild[]> = {};
  const said: string[] = [];
  const events: string[] = [];
  const sup = new Supervisor({
    launch: (spec) => {
      const child = new FakeChild();
      (launched[spec.name] ??= []).push(child);
      // Ready at once, as a service that starts fine (unless the test says otherwise).
      if (!notReady.has(spec.name)) setTimeout(() => child.emit('message', 'ready'), 0);
      return child as unknown as ChildProcess;
    },
    say: (m) => said.push(m),
    onCannotStart: (name, how) => events.push(`cannot start ${name}: ${how}`),
    onGiveUp: (name, reason) => events.push(`give up ${name}: ${reason}`),
  });
  const spec = (name: string) => ({ name, args: [], env: {}, color: 0 });
  const latest = (name: string) => launched[name]?.at(-1) as FakeChild;
  return { sup, launched, said, events, spec, latest };
}

describe('Supervisor', () => {
  it('restarts a worker that dies, after 1 s, while the others keep running', () => {
    const { sup, launched, said, spec, latest } = setup();
    sup.start(spec('worker-1'));
    sup.start(spec('worker-2'));
    vi.advanceTimersByTime(10_000);
    latest('worker-1').die(null, 'SIGKILL');
    expect(sup.running()).toEqual(['worker-2']);
    expect(said.at(-1)).toBe('worker-1 was killed by SIGKILL after 10.0 s; restarting it in 1 s');
    vi.advanceTimersByTime(999);
    expect(launched['worker-1']).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(launched['worker-1']).toHaveLength(2);
    expect(sup.running()).toEqual(['worker-1', 'worker-2']);
  });

  it('backs off 1, 2, 4, 8 s and gives up on the fifth crash within two minutes', () => {
    const { sup, launched, said, events, spec, latest } = setup();
    sup.start(spec('worker-1'));
    vi.advanceTimersByTime(6000);
    // Each restarted run also says it is ready before it dies.
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      latest('worker-1').die(1);
      const m = / in (\d+) s$/.exec(said.at(-1) as string);
      if (m) {
        delays.push(Number(m[1]));
        vi.advanceTimersByTime(Number(m[1]) * 1000 + 100);
      }
    }
    expect(delays).toEqual([1, 2, 4, 8]);
    expect(events).toEqual(['give up worker-1: 5 crashes within 120 s']);
    expect(said.at(-1)).toBe('worker-1 exited with code 1: 5 crashes within 120 s; not restarting it');
    vi.advanceTimersByTime(60_000);
    expect(launched['worker-1']).toHaveLength(5);
  });

  it('does not restart a first run that exits before it says it serves: it could not start', () => {
    const { sup, launched, events, spec, latest } = setup(new Set(['gateway']));
    sup.start(spec('gateway'));
    vi.advanceTimersByTime(300);
    latest('gateway').die(2);
    vi.advanceTimersByTime(60_000);
    expect(events).toEqual(['cannot start gateway: exited with code 2']);
    expect(launched.gateway).toHaveLength(1);
  });

  it('restarts a process killed by a signal before it was ready: that was not its own doing', () => {
    const { sup, launched, events, spec, latest } = setup(new Set(['worker-1']));
    sup.start(spec('worker-1'));
    vi.advanceTimersByTime(300);
    latest('worker-1').die(null, 'SIGKILL');
    vi.advanceTimersByTime(1000);
    expect(events).toEqual([]);
    expect(launched['worker-1']).toHaveLength(2);
  });

  it('stops what it is told to, in the order it is told, and restarts none of them', async () => {
    const { sup, launched, spec, latest } = setup();
    sup.start(spec('gateway'));
    sup.start(spec('worker-1'));
    vi.advanceTimersByTime(10_000);
    await sup.stop(['gateway']);
    expect(latest('gateway').signals).toEqual(['SIGTERM']);
    expect(sup.running()).toEqual(['worker-1']);
    await sup.stop(['worker-1']);
    vi.advanceTimersByTime(60_000);
    expect(sup.running()).toEqual([]);
    expect(launched.gateway).toHaveLength(1);
    expect(launched['worker-1']).toHaveLength(1);
  });

  it('cancels a pending restart when the service is stopped during its backoff', async () => {
    const { sup, launched, spec, latest } = setup();
    sup.start(spec('worker-1'));
    vi.advanceTimersByTime(10_000);
    latest('worker-1').die(null, 'SIGKILL');
    await sup.stop(['worker-1']);
    vi.advanceTimersByTime(60_000);
    expect(launched['worker-1']).toHaveLength(1);
  });
});
