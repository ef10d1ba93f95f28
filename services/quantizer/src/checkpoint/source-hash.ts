import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * Hashes files in a defined order, each framed by its name and length so that moving bytes from one
 * file to the next changes the hash. The same files give the same hash whether they came from a
 * local directory or the hub cache, so the quantizer's reuse check works across both.
 */
export class SourceHasher {
  private readonly hash: Hash = createHash('sha256');
  begin(name: string, bytes: number): void {
    this.hash.update(`${name}\0${bytes}\0`);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** The sha256 of files as SourceHasher frames them, streamed (checkpoints can be gigabytes). */
export async function hashFiles(paths: readonly string[]): Promise<string> {
  const hasher = new SourceHasher();
  for (const path of paths) {
    hasher.begin(basename(path), (await stat(path)).size);
    for await (const chunk of createReadStream(path)) hasher.update(chunk as Buffer);
  }
  return hasher.hex();
}
