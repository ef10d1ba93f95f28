/**
 * The card of a model this worker serves (shared/job.ts ModelCard), read when the model is loaded:
 * its manifest and its report.json without the per-prompt rows. The gateway shows it for
 * GET /api/model, so the page describes the model that answers even after MODEL_DIR has moved on
 * (mid-swap, or a new artifact refused).
 */
import { readFile } from 'node:fs/promises';
import type { ModelCard } from '@gpt2-int8/contract/job';
import type { Logger } from '@gpt2-int8/contract/logger';
import { ARTIFACT_FILES, type Manifest, verifyArtifactFile } from '@gpt2-int8/contract/manifest';

/** The card; a missing, mismatched or unreadable report is logged and left out (null), as the gateway would. */
export async function readModelCard(dir: string, manifest: Manifest, logger: Logger): Promise<ModelCard> {
  try {
    const path = await verifyArtifactFile(dir, manifest, ARTIFACT_FILES.report);
    const report = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const { rows: _rows, ...summary } = report;
    return { manifest, report: summary };
  } catch (err) {
    logger.warn({ err: (err as Error).message }, `${ARTIFACT_FILES.report} unreadable; the model card goes without it`);
    return { manifest, report: null };
  }
}
