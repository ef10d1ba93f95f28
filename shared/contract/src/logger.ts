import { pino, type Logger } from 'pino';
import type { CommonConfig } from './config.js';

export type { Logger };

/** One pino logger per process; `service` and `pid` are on every line so mixed logs stay readable. */
export function createLogger(service: string, config: Pick<CommonConfig, 'logLevel' | 'logPretty'>): Logger {
  return pino({
    name: service,
    level: config.logLevel,
    base: { service, pid: process.pid },
    ...(config.logPretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' } } }
      : {}),
  });
}
