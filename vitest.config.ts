import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Three tiers, all run by `npm test`:
 * - unit: no processes, no Redis; real ONNX Runtime sessions on the tiny artifact (global-setup.ts).
 *   `npm run test:unit` is the inner loop.
 * - integration: a real redis-server and the built services as processes (`dist/`).
 * - system: the product as a user meets it: a browser, `npm start`, the deployment files, the bench.
 */
/** Service tests beside the process tests that need neither a Redis nor a process. */
const WORKER_UNIT = ['services/worker/test/engine.test.ts', 'services/worker/test/model-loader.test.ts', 'services/worker/test/import-graph.test.ts'];
/** The gateway on in-memory parts (services/gateway/test/in-memory-parts.ts), and its pure functions. */
const GATEWAY_UNIT = ['services/gateway/test/app.test.ts', 'services/gateway/test/openai.test.ts', 'services/gateway/test/request-log.test.ts', 'services/gateway/test/serving.test.ts'];
const UNIT = [
  'shared/*/src/**/*.test.ts',
  'services/*/src/**/*.test.ts',
  ...WORKER_UNIT,
  ...GATEWAY_UNIT,
  'scripts/**/*.test.ts',
  'web/**/*.test.ts',
  'test/bench/bench-units.test.ts',
  'test/support/*.test.ts',
];
/** Unit-tier files that start processes or a Redis. */
const UNIT_EXCEPTIONS = ['shared/dev/src/redis-server.test.ts', 'services/quantizer/src/cli.test.ts', 'services/quantizer/src/quantize-artifact.test.ts'];
const INTEGRATION = ['services/*/test/**/*.test.ts', 'test/reliability/**/*.test.ts', ...UNIT_EXCEPTIONS];
const SYSTEM = ['test/e2e/**/*.test.ts', 'test/deploy/**/*.test.ts', 'test/bench/bench-smoke.test.ts'];
const ALWAYS_EXCLUDED = ['**/node_modules/**', '**/dist/**'];

// Tests import the shared library from source; spawned services run the built dist/.
export default defineConfig({
  resolve: {
    alias: [{ find: /^@gpt2-int8\/(contract|runtime|dev)\/(.*)$/, replacement: fileURLToPath(new URL('./shared/$1/src/$2.ts', import.meta.url)) }],
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, exclude: [...ALWAYS_EXCLUDED, ...UNIT_EXCEPTIONS] } },
      { extends: true, test: { name: 'integration', include: INTEGRATION, exclude: [...ALWAYS_EXCLUDED, ...WORKER_UNIT, ...GATEWAY_UNIT] } },
      { extends: true, test: { name: 'system', include: SYSTEM, exclude: ALWAYS_EXCLUDED } },
    ],
  },
});
