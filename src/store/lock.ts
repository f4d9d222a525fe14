// A lock file per blob so two `petrel pull`s of the same model never write the same partial file.
// O_EXCL creation is atomic on local file systems; a lock whose process is gone (crash, kill -9) is taken over.
// The lock names its owner and the file it downloads, so `petrel rm` can refuse to delete a running pull's data.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeldLock {
  release(): Promise<void>;
}

export interface LockOwner {
  pid: number;
  host: string;
  /** What the owner downloads (a repository path or a URL), for messages. */
  file?: string;
  /** Tells this owner's lock from a later one at the same path (after the file was deleted under it). */
  token?: string;
}

export async function acquireLock(
  file: string,
  options: { signal?: AbortSignal; onWait?: (owner: LockOwner) => void; pollMs?: number; label?: string } = {},
): Promise<HeldLock> {
  let told = false;
  const me: LockOwner = { pid: process.pid, host: hostname(), ...(options.label ? { file: options.label } : {}), token: randomUUID() };
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      return { release: () => releaseIfMine(file, me.token!) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      // The folder was removed (petrel rm of the last file, or by hand) while we waited: make it again.
      if (code === 'ENOENT') {
        await mkdir(path.dirname(file), { recursive: true });
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner ? isStale(owner) : await isAbandoned(file)) {
      await rm(file, { force: true });
      continue;
    }
    if (!told && owner) options.onWait?.(owner);
    told = true;
    await sleep(options.pollMs ?? 200, undefined, { signal: options.signal });
  }
}

/** A lock deleted under its owner may have been taken by another pull since: only remove our own. */
async function releaseIfMine(file: string, token: string): Promise<void> {
  const owner = await readOwner(file);
  if (owner?.token === token) await rm(file, { force: true });
}

/** The live process holding this lock file, or undefined when there is none (no file, or its owner is gone). */
export async function lockHolder(file: string): Promise<LockOwner | undefined> {
  const owner = await readOwner(file);
  if (owner) return isStale(owner) ? undefined : owner;
  // Being written this instant, or left empty by a writer that died: young means held.
  try {
    const age = Date.now() - (await stat(file)).mtimeMs;
    return age <= 5000 ? { pid: 0, host: hostname() } : undefined;
  } catch {
    return undefined;
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' ? o : undefined;
  } catch {
    // Being written right now, or removed: look again on the next poll.
    return undefined;
  }
}

/** Only a lock from this machine can be judged; its owner is gone when signal 0 finds no such process. */
function isStale(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}

/** A lock file left empty (its writer died between create and write) is abandoned after a few seconds. */
async function isAbandoned(file: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs > 5000;
  } catch {
    return false;
  }
}
