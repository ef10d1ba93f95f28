/**
 * Keeps `npm start`'s gateway and workers running: a process that dies is restarted after a
 * backoff (restart-policy.ts), one in a crash loop is given up on with the reason, and the others
 * keep serving meanwhile. Stopping is explicit and ordered by the caller (scripts/src/start.ts):
 * a process being stopped is not restarted.
 */
import type { ChildProcess } from 'node:child_process';
import { READY_MESSAGE } from '@gpt2-int8/contract/supervision';
import { type Crash, decideRestart, DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.js';
import type { ServiceSpec } from './spawn-service.js';

export interface SupervisorOptions {
  launch(spec: ServiceSpec): ChildProcess;
  say(message: string): void;
  policy?: RestartPolicy;
  /**
   * A first run that exits on its own before it says it serves (READY_MESSAGE) could not start — a
   * bad setting, a port in use: restarting it would not help.
   */
  onCannotStart(name: string, how: string): void;
  /** A service given up on after a crash loop. */
  onGiveUp(name: string, reason: string): void;
}

interface Supervised {
  spec: ServiceSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  /** Whether any run has said it serves. */
  everReady: boolean;
  crashes: Crash[];
  restartTimer: NodeJS.Timeout | undefined;
  stopping: boolean;
  exited: Promise<void>;
}

/** "exited with code 1" or "was killed by SIGKILL". */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
}

export class Supervisor {
  private readonly services = new Map<string, Supervised>();

  constructor(private readonly opts: SupervisorOptions) {}

  start(spec: ServiceSpec): void {
    if (this.services.has(spec.name)) throw new Error(`${spec.name} is already supervised`);
    const s: Supervised = { spec, child: undefined, startedAt: 0, everReady: false, crashes: [], restartTimer: undefined, stopping: false, exited: Promise.resolve() };
    this.services.set(spec.name, s);
    this.run(s);
  }

  /** Names of the services with a live process. */
  running(): string[] {
    return [...this.services.values()].filter((s) => s.child !== undefined).map((s) => s.spec.name);
  }

  /** Sends `signal` to each named service and resolves once all have exited; none is restarted after. */
  async stop(names: readonly string[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const targets = names.map((n) => this.services.get(n)).filter((s): s is Supervised => s !== undefined);
    for (const s of targets) {
      s.stopping = true;
      clearTimeout(s.restartTimer);
      s.child?.kill(signal);
    }
    await Promise.all(targets.map((s) => s.exited));
  }

  /** Every supervised name, in the order they were started. */
  names(): string[] {
    return [...this.services.keys()];
  }

  private run(s: Supervised): void {
    const child = this.opts.launch(s.spec);
    s.child = child;
    s.startedAt = Date.now();
    child.on('message', (m) => {
      if (m === READY_MESSAGE) s.everReady = true;
    });
    s.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        s.child = undefined;
        resolve();
        if (!s.stopping) this.onUnexpectedExit(s, code, signal);
      });
    });
  }

  private onUnexpectedExit(s: Supervised, code: number | null, signal: NodeJS.Signals | null): void {
    const now = Date.now();
    const uptimeMs = now - s.startedAt;
    const name = s.spec.name;
    const how = describeExit(code, signal);
    // Killed by a signal it did not start itself: someone else's doing, worth a restart.
    if (!s.everReady && signal === null) {
      s.stopping = true;
      this.opts.onCannotStart(name, how);
      return;
    }
    s.crashes.push({ at: now, uptimeMs });
    const decision = decideRestart(s.crashes, this.opts.policy ?? DEFAULT_RESTART_POLICY);
    if (!decision.restart) {
      s.stopping = true;
      this.opts.say(`${name} ${how}: ${decision.reason}; not restarting it`);
      this.opts.onGiveUp(name, decision.reason);
      return;
    }
    this.opts.say(`${name} ${how} after ${(uptimeMs / 1000).toFixed(1)} s; restarting it in ${decision.delayMs / 1000} s`);
    s.restartTimer = setTimeout(() => {
      s.restartTimer = undefined;
      if (!s.stopping) this.run(s);
    }, decision.delayMs);
  }
}
