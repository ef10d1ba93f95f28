/**
 * The one error type every checkpoint loader throws, so the CLI can print its message and exit
 * non-zero without a stack trace: these are problems with the user's input (a missing tensor, a
 * gated repo, a full disk), not bugs. Messages name the file or tensor and say how to fix it.
 */
export class CheckpointError extends Error {
  override name = 'CheckpointError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
