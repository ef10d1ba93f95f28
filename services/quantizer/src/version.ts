import { readFileSync } from 'node:fs';

/** The quantizer's version, recorded in every manifest: a new version rebuilds old artifacts. */
export const TOOL_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
