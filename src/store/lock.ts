// A lock file per blob so two `petrel pull`s of the same model never write the same partial file.
// O_EXCL creation is atomic on local file systems; a lock whose process is gone (crash, kill -9) is taken over.
import { hostname } from 'node:os';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeldLock {
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  host: string;
}

export async function acquireLock(
  file: string,
  options: { signal?: AbortSignal; onWait?: (owner: LockOwner) => void; pollMs?: number } = {},
): Promise<HeldLock> {
  let told = false;
  for (;;) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname() }));
      await fh.close();
      return { release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
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
