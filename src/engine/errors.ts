// Errors the engine API raises itself (native failures arrive as Errors with a `code` from
// native/include/petrel/status.h, or ERR_SESSION_BUSY / ERR_DISPOSED / ERR_ABORTED /
// ERR_SNAPSHOT_MODEL_MISMATCH from the addon).
import { UserError } from '../errors.js';

/** evaluate/prefill/generate would pass the session's context length. */
export class ContextLimitError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONTEXT_LIMIT', options);
  }
}

/**
 * prefill/evaluate stopped by its AbortSignal (name 'AbortError', as the platform's own): the
 * session is exactly as it was before the call.
 */
export class AbortError extends UserError {
  constructor(message = 'the evaluation was aborted', options?: { cause?: unknown }) {
    super(message, 'ERR_ABORTED', options);
  }
}

/** restore/loadFromFile of a snapshot taken with another model (other shapes, or same shapes and other weights). */
export class SnapshotMismatchError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_SNAPSHOT_MODEL_MISMATCH', options);
  }
}

/** Native rejections keep their code; the ones with an error class of their own get it. */
export function fromNative(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  switch ((err as { code?: unknown }).code) {
    case 'ERR_CONTEXT_LIMIT':
      return new ContextLimitError(err.message, { cause: err });
    case 'ERR_ABORTED':
      return new AbortError(err.message, { cause: err });
    case 'ERR_SNAPSHOT_MODEL_MISMATCH':
      return new SnapshotMismatchError(err.message, { cause: err });
    default:
      return err;
  }
}
