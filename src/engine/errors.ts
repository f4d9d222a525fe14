// Errors the engine API raises itself (native failures arrive as Errors with a `code` from
// native/include/petrel/status.h, or ERR_SESSION_BUSY / ERR_DISPOSED from the addon).
import { UserError } from '../errors.js';

/** evaluate/prefill/generate would pass the session's context length. */
export class ContextLimitError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONTEXT_LIMIT', options);
  }
}

/** Native rejections keep their code; the context-limit one becomes a ContextLimitError. */
export function fromNative(err: unknown): unknown {
  if (err instanceof Error && (err as { code?: unknown }).code === 'ERR_CONTEXT_LIMIT') {
    return new ContextLimitError(err.message, { cause: err });
  }
  return err;
}
