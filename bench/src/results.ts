/** The result files of a bench command: <stem>.json and <stem>.md side by side. */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes both files, each through a .tmp file, so a reader never sees half of one. */
export async function writeResults(stem: string, result: unknown, md: string): Promise<void> {
  await mkdir(dirname(stem), { recursive: true });
  for (const [path, text] of [[`${stem}.json`, `${JSON.stringify(result, null, 2)}\n`], [`${stem}.md`, md.endsWith('\n') ? md : `${md}\n`]] as const) {
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  }
}
