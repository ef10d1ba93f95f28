/**
 * Ctrl-C for `npm start`: the first SIGINT, SIGTERM or SIGHUP (its terminal closed) drains, another
 * one stops at once.
 *
 * A terminal's Ctrl-C reaches this process twice: directly (it is in the terminal's foreground
 * process group) and forwarded by npm, which passes SIGINT and SIGTERM on to the script it runs. The
 * copy arrives within milliseconds of the original; it must not count as the impatient second
 * Ctrl-C, so a repeat of the same signal within `echoMs` is ignored.
 */
export interface StopHandlers {
  drain(signal: NodeJS.Signals): void;
  force(signal: NodeJS.Signals): void;
}

export function onStopSignals(handlers: StopHandlers, opts: { echoMs?: number; target?: NodeJS.EventEmitter } = {}): void {
  const echoMs = opts.echoMs ?? 250;
  const target = opts.target ?? process;
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    target.on(signal, () => {
      const now = Date.now();
      if (first === undefined) {
        first = { signal, at: now };
        handlers.drain(signal);
      } else if (!(signal === first.signal && now - first.at < echoMs)) {
        handlers.force(signal);
      }
    });
  }
}
