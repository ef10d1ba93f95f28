/**
 * `npm run screenshot`: the README's picture (docs/screenshot.png), taken from the running product
 * as a visitor sees it — the real page, a real model, real workers — never from a test's fake
 * worker. Start the product first, on a real (small) model, then point this at it:
 *
 *   MODEL_SOURCE=/path/to/a/gpt2 PORT=6006 npm start          # in one terminal
 *   npm run screenshot -- --url http://localhost:6006          # in another
 *
 * It drives Debian's Chromium (/usr/bin/chromium, through playwright-core: no browser download),
 * types the prompt, predicts the next token with Enter, waits for the answer and the model card, and
 * writes the whole page (after one predict of its own, so the answer shown is not a worker's very first
 * job). Options: --prompt "The sky is", --out docs/screenshot.png, --width 1100,
 * --locale en-US, --chromium /usr/bin/chromium. CJK fonts (Debian's fonts-noto-cjk) make the language
 * switch readable.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const USAGE = `usage: npm run screenshot -- [--url URL] [--prompt TEXT] [--out FILE] [--width PX] [--locale LOCALE] [--chromium PATH]
  --url       the running product (default http://localhost:\${PORT:-6006})
  --prompt    asked before the picture (default "The sky is")
  --out       the PNG written (default docs/screenshot.png)
  --width     the window's width in pixels (default 1100)
  --locale    the browser's language, which the page follows (default en-US; zh-CN needs fonts-noto-cjk)
  --chromium  the browser (default /usr/bin/chromium)
`;

function readArgs() {
  try {
    return parseArgs({
      options: {
        url: { type: 'string', default: `http://localhost:${process.env.PORT ?? 6006}` },
        prompt: { type: 'string', default: 'The sky is' },
        out: { type: 'string', default: 'docs/screenshot.png' },
        width: { type: 'string', default: '1100' },
        locale: { type: 'string', default: 'en-US' },
        chromium: { type: 'string', default: '/usr/bin/chromium' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`screenshot: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const values = readArgs();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

async function main(): Promise<void> {
  if (!existsSync(values.chromium)) throw new Error(`${values.chromium} is missing (apt-get install -y chromium, or --chromium PATH)`);
  const ready = await fetch(`${values.url}/readyz`).catch((err: Error) => {
    throw new Error(`nothing answers at ${values.url} (${err.message}): start the product first (npm start)`);
  });
  if (!ready.ok) throw new Error(`${values.url}/readyz answers ${ready.status}: ${await ready.text()}`);
  const model = (await (await fetch(`${values.url}/api/model`)).json()) as { synthetic?: boolean };
  if (model.synthetic) console.warn('warning: the model has synthetic (random) weights; the picture will say so. Set MODEL_SOURCE to a real model.');

  // One request first, so the picture shows a steady answer rather than the first job a worker
  // takes after starting (whose queue wait is tens of milliseconds longer).
  await fetch(`${values.url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: values.prompt }) });

  const browser = await chromium.launch({ executablePath: values.chromium, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const context = await browser.newContext({ locale: values.locale, viewport: { width: Number(values.width), height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    await page.goto(values.url);
    await page.getByTestId('card-size').waitFor();
    // (A string: this file is compiled without the DOM's types.)
    await page.waitForFunction("document.getElementById('status')?.dataset.state === 'ready'");
    await page.locator('#prompt').fill(values.prompt);
    await page.locator('#prompt').press('Enter');
    await page.getByTestId('predict-result').waitFor();
    await page.locator('#prompt').blur();
    const out = resolve(ROOT, values.out);
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}: "${values.prompt}" → ${JSON.stringify(await page.getByTestId('next-token').textContent())}, ${await page.getByTestId('worker').textContent()}`);
  } finally {
    await browser.close();
  }
}

main().catch((err: Error) => {
  console.error(`screenshot: ${err.message}`);
  process.exit(1);
});
