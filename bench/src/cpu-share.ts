/**
 * How much CPU everything else on the machine used while a step ran: the machine's busy time from
 * /proc/stat minus this process's own and its children's (the services it started). On a shared
 * machine this says which figures were measured in quiet and which under someone else's load.
 */
import { readFileSync } from 'node:fs';

const HZ = 100; // USER_HZ: the unit of /proc/stat and /proc/<pid>/stat times on Linux

function machineBusyTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
  return cpu.slice(0, 8).reduce((a, v, i) => (i === 3 || i === 4 ? a : a + (v || 0)), 0);
}

export function processTicks(pid: number | 'self', withReaped = false): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields 14-17 of stat (utime stime cutime cstime) are 11-14 after the ") " split
    return (f[11] ?? 0) + (f[12] ?? 0) + (withReaped ? (f[13] ?? 0) + (f[14] ?? 0) : 0);
  } catch {
    return 0; // exited between listing and reading: its time is in our cutime once reaped
  }
}

function ownTicks(children: () => readonly number[]): number {
  return processTicks('self', true) + children().reduce((a, pid) => a + processTicks(pid, false), 0);
}

export interface CpuSample {
  at: number;
  busy: number;
  own: number;
}

export class CpuShare {
  constructor(private readonly children: () => readonly number[]) {}

  sample(): CpuSample | undefined {
    try {
      return { at: performance.now(), busy: machineBusyTicks(), own: ownTicks(this.children) };
    } catch {
      return undefined; // not Linux
    }
  }

  /** Cores' worth of CPU used by other processes between two samples (0 = a quiet machine). */
  othersCores(from: CpuSample | undefined, to: CpuSample | undefined): number | null {
    return cores(from, to, (a, b) => b.busy - a.busy - (b.own - a.own));
  }

  /** Cores' worth of CPU used by this process and its children between two samples. */
  ownCores(from: CpuSample | undefined, to: CpuSample | undefined): number | null {
    return cores(from, to, (a, b) => b.own - a.own);
  }
}

function cores(from: CpuSample | undefined, to: CpuSample | undefined, ticks: (from: CpuSample, to: CpuSample) => number): number | null {
  if (!from || !to || to.at <= from.at) return null;
  const seconds = (to.at - from.at) / 1000;
  return Math.max(0, Math.round((ticks(from, to) / HZ / seconds) * 100) / 100);
}

/** CPU time of named groups of processes over a stretch of wall time, in cores. */
export async function cpuByRole<T>(roles: Record<string, (number | 'self')[]>, fn: () => Promise<T>): Promise<{ result: T; cores: Record<string, number> }> {
  const ticks = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, pids] of Object.entries(roles)) out[k] = pids.reduce((a: number, p) => a + processTicks(p), 0);
    return out;
  };
  const before = ticks();
  const started = performance.now();
  const result = await fn();
  const seconds = (performance.now() - started) / 1000;
  const after = ticks();
  const cores = Object.fromEntries(Object.keys(roles).map((k) => [k, Math.round((((after[k] ?? 0) - (before[k] ?? 0)) / HZ / seconds) * 100) / 100]));
  return { result, cores };
}
