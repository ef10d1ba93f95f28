import type { ClientErrorCode } from '@gpt2-int8/contract/job';

/** A request the worker refuses because of what was asked (not a fault): never retried. */
export class ClientError extends Error {
  override name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}
