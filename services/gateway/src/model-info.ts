/**
 * GET /api/model's data: the manifest and validation report of the model the workers serve, and
 * what they serve (serving.ts). The artifact's manifest.json and report.json are read from
 * MODEL_DIR on each call (both are small; the gateway never reads the model itself). When the
 * workers serve another model than MODEL_DIR holds — mid-swap, or a new artifact they refused —
 * that model's card comes from Redis, where the workers serving it keep it (shared/contract/src/job.ts ModelCard).
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Value } from 'typebox/value';
import { ManifestSchema } from '@gpt2-int8/contract/manifest-schema';
import { quantizationLabel } from '@gpt2-int8/contract/quantization-label';
import { type ModelInfoResponse, type ReportSummary, ReportSummarySchema, type Serving } from '@gpt2-int8/contract/api';
import type { FastifyBaseLogger } from 'fastify';
import { describeSchemaErrors } from '@gpt2-int8/contract/checks/schema-errors';
import { ARTIFACT_FILES, ArtifactError, type Manifest, readManifest } from '@gpt2-int8/contract/manifest';
import { ReportSchema, type Report } from '@gpt2-int8/contract/report';
import { ApiError } from './errors/api-error.js';
import type { Workers } from './parts.js';
import { servingOf } from './serving.js';

async function readReport(dir: string, log: FastifyBaseLogger): Promise<ReportSummary | null> {
  const path = join(dir, ARTIFACT_FILES.report);
  try {
    const raw = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (!Value.Check(ReportSchema, raw)) {
      log.warn({ path, error: describeSchemaErrors(ReportSchema, raw) }, 'report.json does not match its schema; not shown');
      return null;
    }
    const { rows: _rows, ...summary } = raw as Report;
    return summary;
  } catch (err) {
    log.warn({ path, err: (err as Error).message }, 'report.json unreadable; not shown');
    return null;
  }
}

/** A worker's card, checked like a file from MODEL_DIR would be; undefined when absent or not valid. */
async function readCard(workers: Workers, sha256: string, log: FastifyBaseLogger): Promise<{ manifest: Manifest; report: ReportSummary | null } | undefined> {
  try {
    const raw = await workers.card(sha256);
    if (raw === null) return undefined;
    const card = JSON.parse(raw) as { manifest?: unknown; report?: unknown };
    if (!Value.Check(ManifestSchema, card.manifest)) {
      log.warn({ sha256, error: describeSchemaErrors(ManifestSchema, card.manifest) }, "a worker's model card does not match the manifest schema; not shown");
      return undefined;
    }
    const report = Value.Check(ReportSummarySchema, card.report) ? (card.report as ReportSummary) : null;
    return { manifest: card.manifest as Manifest, report };
  } catch (err) {
    log.warn({ sha256, err: (err as Error).message }, "a worker's model card is unreadable; not shown");
    return undefined;
  }
}

function describe(manifest: Manifest, report: ReportSummary | null, serving: Serving): ModelInfoResponse {
  // A local source is recorded as a path on the quantizer's machine; the public card shows only its
  // name, so the server's directory layout stays private.
  const source = manifest.source.kind === 'hub' ? manifest.source : { ...manifest.source, id: basename(manifest.source.id) };
  return { synthetic: manifest.synthetic, manifest: { ...manifest, source }, quantization: quantizationLabel(manifest.quantization), report, serving };
}

export async function readModelInfo(dir: string, log: FastifyBaseLogger, workers: Workers): Promise<ModelInfoResponse> {
  const [artifact, heartbeats] = await Promise.all([
    readManifest(dir).catch((err: unknown) => {
      if (!(err instanceof ArtifactError)) throw err;
      return err;
    }),
    workers.heartbeats().catch(() => undefined),
  ]);
  const artifactSha256 = artifact instanceof ArtifactError ? null : artifact.files[ARTIFACT_FILES.int8].sha256;
  const serving: Serving = heartbeats
    ? servingOf(heartbeats, artifactSha256)
    : { status: 'no_worker', message: 'Redis is not reachable, so what the workers serve is unknown; the manifest is the artifact in MODEL_DIR', models: [], artifact_sha256: artifactSha256 };
  // The most served model, unless some worker serves MODEL_DIR's already (the fleet is moving to it).
  const served = serving.models[0];
  if (served !== undefined && !serving.models.some((m) => m.sha256 === artifactSha256)) {
    const card = await readCard(workers, served.sha256, log);
    if (card !== undefined) return describe(card.manifest, card.report, serving);
  }
  if (artifact instanceof ArtifactError) {
    // The reason names paths on this machine: it goes to the log, the client gets the gist.
    log.warn({ reason: artifact.message }, 'no usable model artifact');
    throw new ApiError(503, 'NO_MODEL', 'No model artifact is available yet (the quantizer has not finished, or its output is invalid)', 5);
  }
  return describe(artifact, await readReport(dir, log), serving);
}
