/**
 * GET /api/model's data: the artifact's manifest.json and report.json, read from MODEL_DIR on each
 * call (the quantizer may replace the artifact while the gateway runs; both files are small). The
 * gateway reads only these two JSON files, never the model itself.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Value } from 'typebox/value';
import type { ModelInfoResponse, ReportSummary } from '@gpt2-int8/shared/api';
import type { FastifyBaseLogger } from 'fastify';
import { describeSchemaErrors } from '@gpt2-int8/shared/checks/schema-errors';
import { ARTIFACT_FILES, ArtifactError, readManifest } from '@gpt2-int8/shared/manifest';
import { ReportSchema, type Report } from '@gpt2-int8/shared/report';
import { ApiError } from './errors.js';

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

export async function readModelInfo(dir: string, log: FastifyBaseLogger): Promise<ModelInfoResponse> {
  let manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    if (!(err instanceof ArtifactError)) throw err;
    // The reason names paths on this machine: it goes to the log, the client gets the gist.
    log.warn({ reason: err.message }, 'no usable model artifact');
    throw new ApiError(503, 'NO_MODEL', 'No model artifact is available yet (the quantizer has not finished, or its output is invalid)', 5);
  }
  // A local source is recorded as a path on the quantizer's machine; the public card shows only its
  // name, so the server's directory layout stays private.
  const source = manifest.source.kind === 'hub' ? manifest.source : { ...manifest.source, id: basename(manifest.source.id) };
  return { synthetic: manifest.synthetic, manifest: { ...manifest, source }, report: await readReport(dir, log) };
}
