/**
 * The worker process: read the config, start the service, and stop gracefully on SIGTERM/SIGINT
 * (finish the jobs in flight, exit 0). A bad setting exits 1 naming the variable; giving up on the
 * artifact (MODEL_WAIT_MAX_MS) exits 1 with the reason.
 */
import { ConfigError } from '@gpt2-int8/contract/config';
import { createLogger } from '@gpt2-int8/contract/logger';
import { stopWhenSupervisorGone, tellSupervisorReady } from '@gpt2-int8/contract/supervision';
import { readWorkerConfig, type WorkerConfig } from './config.js';
import { startWorkerService } from './worker-service.js';

let config: WorkerConfig;
try {
  config = readWorkerConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(1);
}

const logger = createLogger('worker', config).child({ worker: config.workerId });
const service = startWorkerService(config, logger);

let stopping = false;
const stop = (code: number, why: string) => {
  if (stopping) return;
  stopping = true;
  logger.info(`${why}: stopping`);
  const timer = setTimeout(() => {
    logger.error(`jobs still running after SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}; exiting anyway`);
    process.exit(1);
  }, config.shutdownTimeoutMs);
  timer.unref();
  service.close().then(
    () => process.exit(code),
    (err: unknown) => {
      logger.error({ err }, 'error while stopping');
      process.exit(1);
    },
  );
};

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      logger.warn(`second ${signal}: exiting without waiting`);
      process.exit(1);
    }
    stop(0, signal);
  });
}

stopWhenSupervisorGone(() => stop(0, 'supervisor gone'));

service.ready.then(tellSupervisorReady, (err: unknown) => {
  if (stopping) return;
  logger.fatal(`cannot serve: ${(err as Error).message}`);
  stop(1, 'giving up');
});

process.on('unhandledRejection', (err) => {
  logger.fatal({ err }, 'unhandled rejection');
  stop(1, 'unhandled rejection');
});
