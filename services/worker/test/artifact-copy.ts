/** Test helpers: private copies of the tiny artifact that a test may damage. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '@gpt2-int8/contract/manifest';
import { tinyArtifact } from '../../../test/support/tiny-artifact.js';

export function tempDir(prefix = 'gpt2-int8-worker-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A copy of the tiny artifact in a fresh directory (or into `dir`). */
export function copyArtifact(dir = tempDir()): string {
  cpSync(tinyArtifact(), dir, { recursive: true });
  return dir;
}

export function editManifest(dir: string, edit: (m: Manifest) => void): void {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  edit(m);
  writeFileSync(path, JSON.stringify(m, null, 2));
}

/** Flips one byte in the middle of a file: same size, different sha256. */
export function corrupt(dir: string, file: string): void {
  const path = join(dir, file);
  const bytes = readFileSync(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0xff;
  writeFileSync(path, bytes);
}
