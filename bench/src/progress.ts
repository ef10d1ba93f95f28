/**
 * The progress display of a long benchmark: the step running, time elapsed, and an estimate of what
 * remains — each step's planned duration, scaled by how the finished steps compared to their plan.
 * On a terminal it is one line redrawn in place; otherwise (CI logs, tests) one line per step.
 */
import type { CpuShare } from './cpu-share.js';
export interface PlannedStep {
  id: string;
  label: string;
  /** Expected seconds; only the sum and the ratios matter. */
  estimateS: number;
}

interface StepState extends PlannedStep {
  startedAt?: number;
  tookS?: number;
  othersCores?: number | null;
}

/** One finished step: how long it took and how busy the rest of the machine was meanwhile. */
export interface StepRecord {
  id: string;
  label: string;
  seconds: number;
  /** Cores' worth of CPU other processes used during the step; null where it cannot be read. */
  others_cores: number | null;
}

/** Seconds of "on plan" progress assumed before any step has finished. */
const PRIOR_S = 30;

export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export class Progress {
  private steps: StepState[] = [];
  private readonly startedAt = performance.now();
  private current: StepState | undefined;
  private detail = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly cpu?: CpuShare,
  ) {
    this.tty = out.isTTY === true;
  }

  records(): StepRecord[] {
    return this.steps
      .filter((s) => s.tookS !== undefined)
      .map((s) => ({ id: s.id, label: s.label, seconds: Math.round((s.tookS ?? 0) * 10) / 10, others_cores: s.othersCores ?? null }));
  }

  plan(steps: readonly PlannedStep[]): void {
    this.steps = steps.map((s) => ({ ...s }));
    const total = steps.reduce((a, s) => a + s.estimateS, 0);
    this.print(`plan: ${steps.length} steps, about ${clock(total)} (estimate; refined as it goes)`);
  }

  elapsedS(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** Seconds left: unfinished steps' estimates × (actual ÷ estimated of the finished ones). */
  remainingS(): number {
    let est = 0;
    let took = 0;
    for (const s of this.steps) {
      if (s.tookS !== undefined) {
        est += s.estimateS;
        took += s.tookS;
      }
    }
    // Smoothed towards the plan (as if PRIOR_S more seconds had gone exactly to plan), so a few
    // short steps at the start do not swing the estimate of the long ones.
    const scale = Math.min(3, Math.max(0.5, (took + PRIOR_S) / (est + PRIOR_S)));
    let left = 0;
    for (const s of this.steps) {
      if (s.tookS !== undefined) continue;
      const planned = s.estimateS * scale;
      left += s.startedAt !== undefined ? Math.max(0, planned - (performance.now() - s.startedAt) / 1000) : planned;
    }
    return left;
  }

  /** Runs one planned step; `say` updates the detail shown beside it (e.g. "rep 3/20"). */
  async step<T>(id: string, fn: (say: (detail: string) => void) => Promise<T>): Promise<T> {
    let s = this.steps.find((x) => x.id === id);
    if (!s) {
      s = { id, label: id, estimateS: 0 };
      this.steps.push(s);
    }
    s.startedAt = performance.now();
    const cpuBefore = this.cpu?.sample();
    this.current = s;
    this.detail = '';
    if (this.tty) {
      this.timer ??= setInterval(() => this.draw(), 500);
      this.timer.unref();
      this.draw();
    } else {
      this.print(`${this.status()} ${s.label} …`);
    }
    try {
      let printed = performance.now();
      return await fn((d) => {
        this.detail = d;
        if (this.tty) this.draw();
        else if (performance.now() - printed > 15_000) {
          // Logs get a line now and then during a long step, so a stuck run is visible.
          printed = performance.now();
          this.print(`${this.status()} ${s.label} — ${d}`);
        }
      });
    } finally {
      s.tookS = (performance.now() - (s.startedAt ?? 0)) / 1000;
      s.othersCores = this.cpu ? this.cpu.othersCores(cpuBefore, this.cpu.sample()) : null;
      this.current = undefined;
      const others = s.othersCores != null ? `; other processes used ${s.othersCores.toFixed(2)} cores` : '';
      if (!this.tty) this.print(`${this.status()} ${s.label} done in ${s.tookS.toFixed(1)} s${others}`);
    }
  }

  /** A line of its own above the status line (a note, a result). */
  log(message: string): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${message}\n`);
    if (this.tty && this.current) this.draw();
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.out.write('\r\x1b[2K');
    this.print(`finished in ${clock(this.elapsedS())}`);
  }

  private status(): string {
    const done = this.steps.filter((s) => s.tookS !== undefined).length;
    return `[${clock(this.elapsedS())} elapsed · ~${clock(this.remainingS())} left · ${done}/${this.steps.length}]`;
  }

  private draw(): void {
    if (!this.current) return;
    const line = `${this.status()} ${this.current.label}${this.detail ? ` — ${this.detail}` : ''}`;
    const columns = (this.out as { columns?: number }).columns ?? 0;
    const width = columns >= 40 ? columns : 120;
    this.out.write(`\r\x1b[2K${line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line}`);
  }

  private print(message: string): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${message}\n`);
  }
}
