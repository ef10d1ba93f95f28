/**
 * Request ids: a caller's `x-request-id` is kept when it is sane (so ids correlate across
 * systems), otherwise one is generated. "Sane" is short printable ASCII without spaces: the id
 * lands in logs, a response header and the job data (whose schema caps it at 128 characters).
 * It is never used as the BullMQ job id — clients can repeat ids; job ids are always generated.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function isSaneRequestId(value: unknown): value is string {
  return typeof value === 'string' && SANE.test(value);
}

export function requestIdFor(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return isSaneRequestId(incoming) ? incoming : randomUUID();
}
