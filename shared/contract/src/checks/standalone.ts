/**
 * Standalone checkers: TypeBox's Code() turns a schema into an ES module of plain checks, which
 * needs only typebox/guard at run time (and typebox/format for a format check). A worker process
 * that imported the schemas themselves would load TypeBox's builder and compiler, 10–14 MB of its
 * resident memory (docs/performance.md), to run the same checks. The modules are generated into
 * this folder (`npm run generate:checks`) and committed; a test fails when one is out of date.
 */
import type { TSchema } from 'typebox';
import { Code } from 'typebox/compile';
import { Format } from 'typebox/format';
import { JobDataSchema } from '../job-schema.js';
import { ManifestSchema } from '../manifest-schema.js';

/** Each generated module, by file name in this folder, and the schema it checks. */
export const STANDALONE_CHECKS: Readonly<Record<string, { schema: TSchema; name: string }>> = {
  'job-data.generated.ts': { schema: JobDataSchema, name: 'JobDataSchema (job-schema.ts)' },
  'manifest.generated.ts': { schema: ManifestSchema, name: 'ManifestSchema (manifest-schema.ts)' },
};

/**
 * Code() leaves the values it cannot write as source (patterns, format checks) in an External array
 * the caller must pass back; written out here as source so the module stands alone.
 */
function externalSource(value: unknown): string {
  if (value instanceof RegExp) return `new RegExp(${JSON.stringify(value.source)}, ${JSON.stringify(value.flags)})`;
  const format = Format.Entries().find(([, check]) => check === value)?.[0];
  if (format !== undefined) return `(value: string) => Format.Test(${JSON.stringify(format)}, value)`;
  throw new Error(`a standalone checker cannot hold ${typeof value} ${String(value).slice(0, 60)}: only patterns and registered formats`);
}

/** The TypeScript source of the standalone checker for `schema` (exports Check(value): boolean). */
export function standaloneCheckSource(schema: TSchema, name: string): string {
  const { External, Code: code } = Code(schema);
  const externals = External.variables.map(externalSource);
  const usesFormat = externals.some((e) => e.includes('Format.Test('));
  return [
    `// Generated from ${name} by \`npm run generate:checks\` (shared/contract/src/checks/standalone.ts). Do not edit.`,
    ...(usesFormat ? ['import { Format } from "typebox/format"'] : []),
    code,
    ...(externals.length > 0 ? ['', '// @ts-ignore', `SetExternal({ variables: [${externals.join(', ')}] })`] : []),
    '',
  ].join('\n');
}
