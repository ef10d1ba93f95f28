/**
 * `hf:<repo>[@revision]` end to end: download into the cache (or find it there), then load it with
 * the same loader as a local directory, labelled as a hub source.
 */
import { CheckpointError } from './checkpoint-error.js';
import type { Gpt2Checkpoint } from './gpt2-weights.js';
import { loadHfCheckpoint } from './hf-checkpoint.js';
import { downloadHubCheckpoint, hubSourceId, parseHubSource } from './hub-download.js';
import type { HubDownloadOptions } from './hub-download.js';

export function isHubSpec(model: string): boolean {
  return model.startsWith('hf:');
}

export async function loadHubCheckpoint(spec: string, options: HubDownloadOptions): Promise<Gpt2Checkpoint> {
  if (!isHubSpec(spec)) throw new CheckpointError(`"${spec}" is not a hub source; write hf:<repo_id>[@revision]`);
  const source = parseHubSource(spec);
  const dir = await downloadHubCheckpoint(source, options);
  return loadHfCheckpoint(dir, { source: { kind: 'hub', id: hubSourceId(source) } });
}
