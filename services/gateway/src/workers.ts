/**
 * What the workers say about themselves, summed up: each refreshes a heartbeat key with a TTL
 * (shared/contract/src/job.ts), so a dead worker's key expires and it disappears from here. /readyz, /metrics
 * and admission (admission.ts: the fail-fast "no worker can serve") read these summaries.
 */
import type { GenerationStats, WorkerHeartbeat } from '@gpt2-int8/contract/job';

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

/** Continuous batching's figures over the workers that report them: sums, and rows per step weighted by steps. */
export function sumGeneration(heartbeats: WorkerHeartbeat[]): GenerationStats | undefined {
  const stats = heartbeats.map((h) => h.generation).filter((g): g is GenerationStats => g !== undefined);
  if (stats.length === 0) return undefined;
  const sum = (k: keyof GenerationStats) => stats.reduce((a, g) => a + (Number.isFinite(g[k]) ? g[k] : 0), 0);
  const steps = sum('steps');
  const rows = stats.reduce((a, g) => a + g.rows_per_step * g.steps, 0);
  return { active: sum('active'), queued: sum('queued'), steps, rows_per_step: steps > 0 ? rows / steps : 0, cancelled: sum('cancelled') };
}
