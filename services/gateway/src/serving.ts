/**
 * What the workers serve, from their heartbeats, set against the artifact in MODEL_DIR: the same
 * model (current), two models while the fleet swaps one worker at a time (swapping), or the previous
 * model because the new artifact was refused (refused). GET /api/model reports it.
 */
import type { Serving } from '@gpt2-int8/contract/api';
import type { WorkerHeartbeat } from '@gpt2-int8/contract/job';
import { publicReason } from './workers.js';

const short = (sha256: string) => sha256.slice(0, 12);

export function servingOf(heartbeats: WorkerHeartbeat[], artifactSha256: string | null): Serving {
  const ready = heartbeats.filter((h) => h.state === 'ready' && h.model !== undefined);
  const counts = new Map<string, number>();
  for (const h of ready) counts.set(h.model?.sha256 as string, (counts.get(h.model?.sha256 as string) ?? 0) + 1);
  // Most served first; on a tie the artifact in MODEL_DIR (where the fleet is going) first.
  const rank = (sha256: string) => (sha256 === artifactSha256 ? 0 : 1);
  const models = [...counts]
    .map(([sha256, workers]) => ({ sha256, workers }))
    .sort((a, b) => b.workers - a.workers || rank(a.sha256) - rank(b.sha256) || a.sha256.localeCompare(b.sha256));
  const base = { models, artifact_sha256: artifactSha256 };
  if (models.length === 0) return { ...base, status: 'no_worker', message: 'no worker is ready; the manifest is the artifact in MODEL_DIR' };

  const who = models.map((m) => `${m.workers} worker${m.workers === 1 ? '' : 's'} serve${m.workers === 1 ? 's' : ''} ${short(m.sha256)}`).join(', ');
  const artifact = `the artifact in MODEL_DIR${artifactSha256 === null ? '' : ` (${short(artifactSha256)})`}`;
  const servesArtifact = models.some((m) => m.sha256 === artifactSha256);
  if (models.length === 1 && servesArtifact) return { ...base, status: 'current', message: `${who}, ${artifact}` };
  const refusal = ready.find((h) => h.swap?.state === 'refused');
  if (refusal !== undefined && !servesArtifact) {
    const why = refusal.swap?.reason ? `: ${publicReason(refusal.swap.reason)}` : '';
    return { ...base, status: 'refused', message: `${artifact} was refused by worker ${refusal.id}${why}; ${who}` };
  }
  return { ...base, status: 'swapping', message: `the workers are moving to ${artifact}, one at a time: ${who}` };
}
