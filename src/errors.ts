// Errors with stable codes. A UserError (bad input, bad file, missing model) prints as one line;
// anything else is a bug and prints its stack. Both exit 1 (see cli/main.ts).

export class PetrelError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Something the user can fix: a wrong argument, a bad or missing file. Printed without a stack. */
export class UserError extends PetrelError {
  constructor(message: string, code = 'ERR_USER', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Native errors carry a code from native/include/petrel/status.h; those are the user's to fix too. */
const NATIVE_USER_CODES = new Set([
  'ERR_INVALID_ARGUMENT',
  'ERR_IO',
  'ERR_CORRUPT_FILE',
  'ERR_UNSUPPORTED',
  'ERR_OUT_OF_MEMORY',
  'ERR_DISK_FULL',
  'ERR_NO_ADDON',
]);

export function isUserFacing(err: unknown): err is Error & { code: string } {
  if (err instanceof UserError) return true;
  const code = (err as { code?: unknown })?.code;
  return err instanceof Error && typeof code === 'string' && (NATIVE_USER_CODES.has(code) || code.startsWith('ERR_USER'));
}
