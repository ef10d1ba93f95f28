/**
 * Real English text for agreement figures, read from files every Debian machine has: the license
 * texts of base-files (an essential package) in /usr/share/common-licenses. Four distinct texts,
 * reflowed (each paragraph's lines joined, runs of spaces collapsed) so the model sees prose rather
 * than fixed-width layout: about 17,300 GPT-2 tokens. student-tiny was trained on other Debian text
 * (its README), not on these.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from '@gpt2-int8/runtime/tokenizer';

export const REFERENCE_TEXT_DIR = '/usr/share/common-licenses';
export const REFERENCE_TEXT_FILES = ['GPL-3', 'Apache-2.0', 'MPL-2.0', 'GFDL-1.3'] as const;

/** Paragraphs (separated by blank lines) each on one line, single spaces, blank lines between. */
export function reflow(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p !== '')
    .join('\n\n');
}

/** The reference text's tokens, the files in order; throws naming the file when one is missing. */
export async function referenceTokens(dir = REFERENCE_TEXT_DIR): Promise<{ tokens: number[]; files: string[] }> {
  const tokens: number[] = [];
  for (const f of REFERENCE_TEXT_FILES) {
    const path = join(dir, f);
    const text = await readFile(path, 'utf8').catch((err: Error) => {
      throw new Error(`the agreement text ${path} cannot be read (${err.message}); it comes with Debian's base-files package`);
    });
    tokens.push(...encode(`${reflow(text)}\n\n`));
  }
  return { tokens, files: REFERENCE_TEXT_FILES.map((f) => join(dir, f)) };
}
