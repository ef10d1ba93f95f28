import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ARTIFACT_FILES, ArtifactError, type Manifest } from '@gpt2-int8/contract/manifest';

export interface ArtifactContent {
  int8: Uint8Array;
  /** The INT8 graph's external data (ARTIFACT_FILES.int8Data). */
  int8Data: Uint8Array;
  fp32: Uint8Array;
  report: Uint8Array;
  /** Everything in the manifest except what is derived from the files here. */
  manifest: Omit<Manifest, 'files' | 'fp32_bytes' | 'int8_bytes' | 'created_at'>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/**
 * Writes the artifact beside `outDir` and renames it into place, so a reader sees the previous
 * artifact or the new one, never a mix; an interrupted write leaves only a hidden temporary
 * directory behind (removed on the next run). The manifest is written last within the new
 * directory: no manifest, no artifact.
 */
export async function writeArtifact(outDir: string, content: ArtifactContent): Promise<Manifest> {
  const parent = dirname(outDir);
  const name = basename(outDir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const manifest: Manifest = {
    ...content.manifest,
    created_at: new Date().toISOString(),
    files: {
      [ARTIFACT_FILES.int8]: { bytes: content.int8.byteLength, sha256: sha256(content.int8) },
      [ARTIFACT_FILES.int8Data]: { bytes: content.int8Data.byteLength, sha256: sha256(content.int8Data) },
      [ARTIFACT_FILES.fp32]: { bytes: content.fp32.byteLength, sha256: sha256(content.fp32) },
      [ARTIFACT_FILES.report]: { bytes: content.report.byteLength, sha256: sha256(content.report) },
    },
    fp32_bytes: content.fp32.byteLength,
    int8_bytes: content.int8.byteLength + content.int8Data.byteLength,
  };
  try {
    await mkdir(tmp);
    await writeDurably(join(tmp, ARTIFACT_FILES.fp32), content.fp32);
    await writeDurably(join(tmp, ARTIFACT_FILES.int8), content.int8);
    await writeDurably(join(tmp, ARTIFACT_FILES.int8Data), content.int8Data);
    await writeDurably(join(tmp, ARTIFACT_FILES.report), content.report);
    await writeDurably(join(tmp, ARTIFACT_FILES.manifest), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
    await syncDir(tmp);
    const old = join(parent, `.${name}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
    const replacing = await exists(outDir);
    if (replacing) await rename(outDir, old);
    await rename(tmp, outDir);
    await syncDir(parent);
    if (replacing) await rm(old, { recursive: true, force: true });
    return manifest;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new ArtifactError(`disk full while writing the artifact into ${parent}; free some space (it needs about ${Math.ceil((content.fp32.byteLength + content.int8.byteLength + content.int8Data.byteLength) / 1e6)} MB) and run again`);
    if (code === 'EACCES' || code === 'EROFS') throw new ArtifactError(`cannot write into ${parent} (${code}); check the directory's permissions`);
    throw err;
  }
}

/** Removes leftovers of interrupted runs; call it only while holding the artifact's lock. */
export async function removeLeftovers(outDir: string): Promise<void> {
  const parent = dirname(outDir);
  const prefix = `.${basename(outDir)}.`;
  const entries = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(
    entries.filter((e) => e.startsWith(`${prefix}tmp-`) || e.startsWith(`${prefix}old-`)).map((e) => rm(join(parent, e), { recursive: true, force: true })),
  );
}
