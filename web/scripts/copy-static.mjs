// Copies the page's static files (HTML, CSS, icon) next to the compiled scripts in web/dist, so
// web/dist is the whole page the gateway serves. Part of the root `npm run build`.
import { cpSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../static/', import.meta.url));
const to = fileURLToPath(new URL('../dist/', import.meta.url));
mkdirSync(to, { recursive: true });
cpSync(from, to, { recursive: true });
