/**
 * The gateway's and workers' side of `npm start`'s supervisor (scripts/src/supervisor/), which
 * starts them with an IPC channel. Without one (compose, a test, a plain `node main.js`) these do
 * nothing.
 */

/** What a service sends once it serves: a first run that exits before this could not start. */
export const READY_MESSAGE = 'ready';

export function tellSupervisorReady(): void {
  process.send?.(READY_MESSAGE);
}

/** Calls `stop` when the supervisor goes away without stopping us (killed, crashed): no orphans. */
export function stopWhenSupervisorGone(stop: () => void): void {
  process.once('disconnect', stop);
}
