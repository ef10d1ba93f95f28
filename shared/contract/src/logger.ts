import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { CommonConfig } from './config.js';

export type { Logger };

/**
 * One pino logger per process; `service` and `pid` are on every line so mixed logs stay readable.
 *
 * Both forms write synchronously on the process's own thread, through pino's destination, which
 * stops writing once its reader is gone (EPIPE). Not pino's `transport` (a worker thread): when
 * `npm start`'s supervisor was killed, that thread's writes failed and the service's thread blocked
 * waiting for it, so the service could not drain and exit on its own
 * (test/e2e/npm-start.test.ts, "the supervisor SIGKILLed").
 */
export function createLogger(service: string, config: Pick<CommonConfig, 'logLevel' | 'logPretty'>): Logger {
  const out = pino.destination({ dest: 1, sync: true });
  return pino({ name: service, level: config.logLevel, base: { service, pid: process.pid } }, config.logPretty ? prettyLines(out) : out);
}

/** Each JSON line as one readable line. */
function prettyLines(out: DestinationStream): DestinationStream {
  const format = prettyFactory({ colorize: true, singleLine: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' });
  return { write: (line: string) => out.write(format(line)) };
}
