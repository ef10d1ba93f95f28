import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The packages a compiled module reaches through static imports (tsc's output: one per line). */
function packagesReached(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^'"]*?\bfrom\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (/^@gpt2-int8\/(contract|runtime)\//.test(spec)) visit(resolve(root, spec.replace(/^@gpt2-int8\/(\w+)\/(.*)$/, 'shared/$1/dist/$2.js')));
      else packages.add(spec);
    }
  };
  visit(resolve(root, entry));
  return packages;
}

describe("the worker process's imports", () => {
  it("keep TypeBox's builder and compiler out: jobs and manifests go through the generated checkers", () => {
    const packages = packagesReached('services/worker/dist/main.js');
    // The walk reached the worker's real dependencies, so an empty result cannot pass.
    expect([...packages]).toEqual(expect.arrayContaining(['bullmq', 'onnxruntime-node', 'pino', 'typebox/guard']));
    // Each worker would hold 10–14 MB more (docs/performance.md, "Decisions").
    const typebox = [...packages].filter((p) => p === 'typebox' || p.startsWith('typebox/'));
    expect(typebox.sort()).toEqual(['typebox/format', 'typebox/guard']);
  });
});
