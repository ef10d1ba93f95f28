/**
 * What the workers say about themselves: each refreshes a heartbeat key with a TTL (shared/contract/src/job.ts),
 * so a dead worker's key expires and it disappears from here. /readyz, /metrics and the fail-fast
 * "no worker can serve" check read these.
 */
import type { Redis } from 'ioredis';
import { type GenerationStats, workerHeartbeatPattern, type WorkerHeartbeat } from '@gpt2-int8/contract/job';

const STATES = new Set(['loading', 'ready', 'error']);

function parseHeartbeat(raw: string | null): WorkerHeartbeat | undefined {
  if (raw === null) return undefined;
  try {
    const hb = JSON.parse(raw) as Partial<WorkerHeartbeat>;
    if (typeof hb.id === 'string' && typeof hb.state === 'string' && STATES.has(hb.state)) return hb as WorkerHeartbeat;
  } catch {
    // Not ours or half-written: ignore rather than fail readiness on a stray key.
  }
  return undefined;
}

/** All live heartbeats. SCAN, not KEYS, so a big keyspace never blocks Redis. */
export async function readHeartbeats(redis: Redis, queueName: string): Promise<WorkerHeartbeat[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', workerHeartbeatPattern(queueName), 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(...new Set(keys));
  return values.map(parseHeartbeat).filter((hb): hb is WorkerHeartbeat => hb !== undefined);
}

/**
 * A worker's reason as the gateway shows it: absolute paths reduced to their last part
 * ("/srv/models/current/model.int8.onnx is missing" → "model.int8.onnx is missing"), so /readyz says
 * what is wrong without describing the server's directories. The worker's log has the full paths.
 */
export function publicReason(reason: string): string {
  return reason.replace(/(?<![\w.:/~-])(?:\/[^\s/'"`:;,()]+)+\/([^\s/'"`:;,()]+)/g, '$1');
}

export interface WorkerSummary {
  ready: number;
  loading: number;
  error: number;
  /** Why nothing can serve, in words (undefined when at least one worker is ready). */
  reason?: string;
  /** Serving workers that refused a new artifact in MODEL_DIR, and why (they keep their model). */
  refusals?: string[];
}

export function summarize(heartbeats: WorkerHeartbeat[]): WorkerSummary {
  const count = (s: WorkerHeartbeat['state']) => heartbeats.filter((h) => h.state === s).length;
  const summary: WorkerSummary = { ready: count('ready'), loading: count('loading'), error: count('error') };
  const refusals = heartbeats
    .filter((h) => h.state === 'ready' && h.swap?.state === 'refused')
    .map((h) => `worker ${h.id} refused the new artifact and keeps serving ${h.model?.sha256.slice(0, 12) ?? 'its model'}${h.swap?.reason ? `: ${publicReason(h.swap.reason)}` : ''}`);
  if (refusals.length > 0) summary.refusals = refusals;
  if (summary.ready > 0) return summary;
  if (heartbeats.length === 0) return { ...summary, reason: 'no worker is running' };
  // The worker's own reason (e.g. a sha256 mismatch) is what an operator needs to see.
  const describe = (h: WorkerHeartbeat) => `worker ${h.id} is ${h.state}${h.reason ? `: ${publicReason(h.reason)}` : ''}`;
  const errors = heartbeats.filter((h) => h.state === 'error');
  const shown = (errors.length > 0 ? errors : heartbeats).slice(0, 3).map(describe);
  return { ...summary, reason: `no worker is ready (${shown.join('; ')})` };
}

/**
 * Fails a request fast (503) when no worker can serve, instead of letting it wait out the timeout
 * in a queue nobody consumes. A "some worker is ready" answer is cached for a second (heartbeats
 * are refreshed every second anyway); a "none" answer is always re-read, so a worker that just came
 * up is used at once.
 */
export class WorkerGate {
  private readyUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
  ) {}

  async summary(): Promise<WorkerSummary> {
    return summarize(await readHeartbeats(this.redis, this.queueName));
  }

  /** Resolves when at least one worker is ready; otherwise returns why not. */
  async check(): Promise<{ ok: true } | { ok: false; summary: WorkerSummary }> {
    if (Date.now() < this.readyUntil) return { ok: true };
    const summary = await this.summary();
    if (summary.ready > 0) {
      this.readyUntil = Date.now() + 1000;
      return { ok: true };
    }
    return { ok: false, summary };
  }
}

/** Continuous batching's figures over the workers that report them: sums, and rows per step weighted by steps. */
export function sumGeneration(heartbeats: WorkerHeartbeat[]): GenerationStats | undefined {
  const stats = heartbeats.map((h) => h.generation).filter((g): g is GenerationStats => g !== undefined);
  if (stats.length === 0) return undefined;
  const sum = (k: keyof GenerationStats) => stats.reduce((a, g) => a + (Number.isFinite(g[k]) ? g[k] : 0), 0);
  const steps = sum('steps');
  const rows = stats.reduce((a, g) => a + g.rows_per_step * g.steps, 0);
  return { active: sum('active'), queued: sum('queued'), steps, rows_per_step: steps > 0 ? rows / steps : 0, cancelled: sum('cancelled') };
}
