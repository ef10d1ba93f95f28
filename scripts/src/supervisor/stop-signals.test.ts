import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onStopSignals } from './stop-signals.js';

afterEach(() => {
  vi.useRealTimers();
});

function setup() {
  vi.useFakeTimers({ now: 0 });
  const target = new EventEmitter();
  const calls: string[] = [];
  onStopSignals({ drain: (s) => calls.push(`drain ${s}`), force: (s) => calls.push(`force ${s}`) }, { target });
  return { target, calls };
}

describe('onStopSignals', () => {
  it('drains on the first signal and ignores npm\'s forwarded copy of it', () => {
    const { target, calls } = setup();
    target.emit('SIGINT');
    vi.advanceTimersByTime(5);
    target.emit('SIGINT');
    expect(calls).toEqual(['drain SIGINT']);
  });

  it('stops at once on a second Ctrl-C', () => {
    const { target, calls } = setup();
    target.emit('SIGINT');
    vi.advanceTimersByTime(5);
    target.emit('SIGINT');
    vi.advanceTimersByTime(1000);
    target.emit('SIGINT');
    expect(calls).toEqual(['drain SIGINT', 'force SIGINT']);
  });

  it('drains when its terminal closes (SIGHUP), like a first Ctrl-C', () => {
    const { target, calls } = setup();
    target.emit('SIGHUP');
    expect(calls).toEqual(['drain SIGHUP']);
  });

  it('treats a different signal after the first as impatience, however soon', () => {
    const { target, calls } = setup();
    target.emit('SIGTERM');
    target.emit('SIGINT');
    expect(calls).toEqual(['drain SIGTERM', 'force SIGINT']);
  });
});
