/**
 * The gateway process: read config (a bad value exits non-zero naming the variable), connect to
 * Redis (queue/redis-parts.ts), build the app from those parts, listen, and on SIGTERM/SIGINT drain — stop accepting, let requests in flight finish (each
 * is bounded by REQUEST_TIMEOUT_MS), close the queue connections, exit 0.
 */
import { ConfigError } from '@gpt2-int8/contract/config';
import { createLogger } from '@gpt2-int8/contract/logger';
import { describeRedis } from '@gpt2-int8/contract/redis';
import { stopWhenSupervisorGone, tellSupervisorReady } from '@gpt2-int8/contract/supervision';
import { buildApp } from './app.js';
import { readGatewayConfig, type GatewayConfig } from './config.js';
import { createRedisParts } from './queue/redis-parts.js';

let config: GatewayConfig;
try {
  config = readGatewayConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`gateway: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const log = createLogger('gateway', config);
const app = await buildApp({ config, ...(await createRedisParts(config, log)), logger: log });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'draining: no new connections; waiting for requests in flight');
  // In-flight waits end by themselves within the request timeout; past that (plus a margin for
  // the answer to be written) something is stuck, and exiting non-zero says so.
  const deadline = setTimeout(() => {
    log.error('drain did not finish in time; exiting');
    process.exit(1);
  }, config.requestTimeoutMs + 5000);
  deadline.unref();
  try {
    await app.close();
    log.info('drained; bye');
    process.exit(0);
  } catch (err) {
    log.error({ err }, 'error while draining');
    process.exit(1);
  }
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
stopWhenSupervisorGone(() => void shutdown('supervisor gone'));

try {
  const address = await app.listen({ port: config.port, host: config.host });
  log.info(
    { address, redis: describeRedis(config.redis), queue: config.queueName, modelDir: config.modelDir, webDir: config.webDir },
    `gateway listening on ${address}`,
  );
  tellSupervisorReady();
} catch (err) {
  log.fatal({ err }, 'could not start listening');
  process.exit(1);
}
