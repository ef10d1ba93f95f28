/**
 * Starts one of the product's Node programs for `npm start`, shown together in one terminal with
 * each line prefixed by its name.
 *
 * `detached` puts the child in a process group of its own: a terminal's Ctrl-C goes to the whole
 * foreground group, and a worker or Redis that got it directly would stop while the gateway still
 * has requests for them. The supervisor alone decides when each one stops.
 *
 * The IPC channel is the child's tie to the supervisor: when the supervisor dies without stopping
 * it (SIGKILL, a crash), the channel closes and the gateway and workers drain and exit on their own
 * (services/*\/src/main.ts listen for 'disconnect') instead of living on as orphans.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServiceSpec {
  /** Shown before each of its lines, and in the supervisor's messages. */
  name: string;
  /** Arguments to `node`. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** ANSI colour of the name prefix. */
  color: number;
}

export function spawnService(spec: ServiceSpec, cwd: string, out: NodeJS.WritableStream = process.stdout): ChildProcess {
  const child = spawn(process.execPath, spec.args, { cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const prefix = `\x1b[${spec.color}m[${spec.name}]\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => out.write(`${prefix}${line}\n`));
  }
  // Reported by its exit; an 'error' without a listener would throw in the supervisor.
  child.on('error', () => undefined);
  return child;
}
