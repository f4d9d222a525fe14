// File system failures in the cache as one-line user errors.
import { UserError } from '../errors.js';

/**
 * A failure of the file system under the cache (a read-only or full disk, HF_HUB_CACHE under a file, a folder
 * deleted by hand) is the user's to fix: one line naming the path and what failed, not a stack.
 */
export function fileSystemError(err: unknown): unknown {
  const e = err as { code?: unknown; syscall?: unknown; path?: unknown };
  if (!(err instanceof Error) || err instanceof UserError || typeof e.code !== 'string' || typeof e.syscall !== 'string' || typeof e.path !== 'string') return err;
  const why = FS_FAILURES[e.code] ?? e.code;
  return new UserError(`cannot ${e.syscall} ${e.path}: ${why} (${e.code})`, 'ERR_USER_FS', { cause: err });
}

const FS_FAILURES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'no such file or folder',
  EISDIR: 'it is a folder',
  EEXIST: 'it already exists',
};
