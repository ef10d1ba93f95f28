/**
 * When a supervised process dies: restart it after a delay that doubles with each quick crash, and
 * give up on it after too many crashes in a short time (a crash loop: a bad setting, a broken
 * artifact), so its log says why instead of scrolling forever.
 */
export interface RestartPolicy {
  /** Delay before the first restart. */
  initialDelayMs: number;
  /** The doubling stops here. */
  maxDelayMs: number;
  /** A process that ran this long before dying crashed once, not in a loop: the delay starts over. */
  healthyAfterMs: number;
  /** This many crashes within `windowMs` and the process is not restarted again. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  healthyAfterMs: 60_000,
  maxCrashes: 5,
  windowMs: 120_000,
};

export interface Crash {
  /** When it died (ms, any clock the caller keeps consistent). */
  at: number;
  /** How long that run lasted. */
  uptimeMs: number;
}

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; reason: string };

/** What to do after the last crash in `crashes` (oldest first). */
export function decideRestart(crashes: readonly Crash[], policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const last = crashes.at(-1);
  if (last === undefined) throw new Error('decideRestart needs at least one crash');
  const recent = crashes.filter((c) => last.at - c.at < policy.windowMs).length;
  if (recent >= policy.maxCrashes) {
    return { restart: false, reason: `${recent} crashes within ${Math.round(policy.windowMs / 1000)} s` };
  }
  let quick = 0;
  for (let i = crashes.length - 1; i >= 0 && (crashes[i] as Crash).uptimeMs < policy.healthyAfterMs; i--) quick++;
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, quick - 1));
  return { restart: true, delayMs };
}
