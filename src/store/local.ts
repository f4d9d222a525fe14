// The models already in the cache: list them, find the file a reference names (offline), and remove them
// with their blobs and any partial downloads, leaving blobs that another snapshot still links to.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { storeConfig, type StoreConfig } from './config.js';
import { fileSystemError } from './fsError.js';
import { lockHolder, type LockOwner } from './lock.js';
import { repoFromFolderName, repoPaths, urlCachePath, urlSourcePath } from './paths.js';
import { describeRef, parseModelRef, type ModelRef } from './reference.js';
import { loadRegistry } from './registry.js';
import { isGguf, quantOf, selectQuantFiles, splitInfo, withSplitParts } from './selectFiles.js';

export interface LocalModel {
  /** The shortest reference that names it: an alias when one matches, else hf:owner/repo:QUANT or a file ref. */
  name: string;
  repo?: string;
  quant?: string;
  commit?: string;
  /** First part; open this. */
  path: string;
  files: string[];
  size: number;
  modified: Date;
}

export interface PartialDownload {
  repo?: string;
  file: string;
  path: string;
  bytes: number;
  size: number;
}

function walk(dir: string, rel = ''): string[] {
  let entries: string[] = [];
  try {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) entries = entries.concat(walk(dir, r));
      else entries.push(r);
    }
  } catch {
    // missing folder: nothing there
  }
  return entries;
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function aliasFor(repo: string, quant: string | undefined): string | undefined {
  const reg = loadRegistry();
  for (const [alias, entry] of Object.entries(reg.models)) {
    if (entry.repo.toLowerCase() !== repo.toLowerCase() || !quant) continue;
    const def = (entry.defaultQuant ?? reg.defaultQuant).toUpperCase();
    return quant === def ? alias : `${alias}-${quant.toLowerCase()}`;
  }
  return undefined;
}

/** Every complete GGUF in the cache (newest snapshot per file path wins), split sets as one model. */
export function listLocalModels(config: StoreConfig = storeConfig()): LocalModel[] {
  const out: LocalModel[] = [];
  let repos: string[] = [];
  try {
    repos = readdirSync(config.hubCache).filter((d) => d.startsWith('models--'));
  } catch {
    repos = [];
  }
  for (const folder of repos) {
    const repo = repoFromFolderName(folder)!;
    const paths = repoPaths(config.hubCache, repo);
    let commits: string[] = [];
    try {
      commits = readdirSync(path.join(paths.root, 'snapshots'));
    } catch {
      continue;
    }
    const seen = new Set<string>();
    const candidates = commits
      .flatMap((commit) => walk(paths.snapshot(commit)).map((file) => ({ commit, file, st: statOrUndefined(paths.snapshot(commit, file)) })))
      .filter((c) => c.st && isGguf(c.file))
      .sort((a, b) => b.st!.mtimeMs - a.st!.mtimeMs);
    for (const c of candidates) {
      const split = splitInfo(c.file);
      if (split && split.index !== 1) continue;
      if (seen.has(c.file)) continue;
      seen.add(c.file);
      const snapshotFiles = walk(paths.snapshot(c.commit)).map((f) => ({ path: f, size: 0 }));
      let parts: string[];
      try {
        parts = withSplitParts({ path: c.file, size: 0 }, snapshotFiles).map((f) => paths.snapshot(c.commit, f.path));
      } catch {
        continue; // an incomplete split set is not a usable model
      }
      const quant = quantOf(c.file);
      // A part removed this instant (a concurrent rm) leaves no model to list.
      const stats = parts.map((p) => statOrUndefined(p));
      if (!stats.every((st): st is Stats => st !== undefined)) continue;
      out.push({
        name: aliasFor(repo, quant) ?? (quant ? `hf:${repo}:${quant}` : `hf:${repo}/${c.file}`),
        repo,
        ...(quant ? { quant } : {}),
        commit: c.commit,
        path: parts[0]!,
        files: parts,
        size: stats.reduce((s, st) => s + st.size, 0),
        modified: new Date(Math.max(...stats.map((st) => st.mtimeMs))),
      });
    }
  }
  for (const file of walk(config.urlCache).filter((f) => isGguf(f))) {
    const p = path.join(config.urlCache, file);
    const st = statOrUndefined(p);
    if (!st) continue;
    const quant = quantOf(file);
    out.push({ name: urlOf(p, file), ...(quant ? { quant } : {}), path: p, files: [p], size: st.size, modified: st.mtime });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The URL a file in the URL cache came from: what pull wrote beside it, else rebuilt from its path ("host_port/…"). */
function urlOf(file: string, rel: string): string {
  try {
    const url = readFileSync(urlSourcePath(file), 'utf8').trim();
    if (/^https?:\/\//.test(url)) return url;
  } catch {
    // pulled before petrel kept the URL
  }
  const [host, ...rest] = rel.split('/');
  return `https://${host!.replace(/_(\d+)$/, ':$1')}/${rest.join('/')}`;
}

/** Partial downloads petrel left in the cache (their state file names the file they belong to). */
export function listPartials(config: StoreConfig = storeConfig()): PartialDownload[] {
  const out: PartialDownload[] = [];
  let repos: string[] = [];
  try {
    repos = readdirSync(config.hubCache).filter((d) => d.startsWith('models--'));
  } catch {
    repos = [];
  }
  const states = repos.flatMap((folder) => {
    const blobs = path.join(config.hubCache, folder, 'blobs');
    return walk(blobs)
      .filter((f) => f.endsWith('.petrel-partial.json'))
      .map((f) => ({ repo: repoFromFolderName(folder), state: path.join(blobs, f) }));
  });
  states.push(...walk(config.urlCache).filter((f) => f.endsWith('.petrel-partial.json')).map((f) => ({ repo: undefined, state: path.join(config.urlCache, f) })));
  for (const { repo, state } of states) {
    // A state whose data is gone describes nothing (the next pull starts over): not a partial download.
    if (!existsSync(state.slice(0, -'.json'.length))) continue;
    try {
      const s = JSON.parse(readFileSync(state, 'utf8')) as { url: string; size: number; segments: Array<{ start: number; pos: number }> };
      const m = /\/resolve\/[^/]+\/(.+)$/.exec(new URL(s.url).pathname);
      out.push({
        ...(repo ? { repo } : {}),
        file: m ? decodeURIComponent(m[1]!) : s.url,
        path: state.slice(0, -'.json'.length),
        bytes: s.segments.reduce((sum, g) => sum + (g.pos - g.start), 0),
        size: s.size,
      });
    } catch {
      // unreadable state: rm of the repository still removes it
    }
  }
  return out;
}

/** The local file a reference names, without the network; throws with the pull command when it is missing. */
export function resolveLocalModel(input: string, config: StoreConfig = storeConfig()): string {
  const ref = parseModelRef(input, config.endpoint);
  if (ref.kind === 'path') {
    let isFile = false;
    try {
      isFile = statSync(ref.path).isFile();
    } catch {
      throw new UserError(`${ref.path}: no such file`, 'ERR_USER_NO_FILE');
    }
    if (!isFile) throw new UserError(`${ref.path}: not a file`, 'ERR_USER_NO_FILE');
    return ref.path;
  }
  const found = findLocal(ref, config);
  if (!found) throw new UserError(`${describeRef(ref)} is not downloaded; run: petrel pull ${input}`, 'ERR_USER_NOT_PULLED');
  return found.path;
}

function findLocal(ref: Exclude<ModelRef, { kind: 'path' }>, config: StoreConfig): LocalModel | undefined {
  const models = listLocalModels(config);
  if (ref.kind === 'url') {
    const p = urlCachePath(config.urlCache, ref.url);
    return models.find((m) => m.path === p);
  }
  const mine = models.filter((m) => m.repo?.toLowerCase() === ref.repo.toLowerCase());
  if (mine.length === 0) return undefined;
  const commit = readRef(config, ref.repo, ref.revision) ?? (/^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : undefined);
  const atCommit = commit ? mine.filter((m) => m.commit === commit) : mine;
  const pool = atCommit.length ? atCommit : mine;
  if (ref.kind === 'hf-file') return pool.find((m) => m.files.some((f) => f.endsWith(`/${ref.file}`)));
  const files = pool.map((m) => ({ path: path.relative(repoPaths(config.hubCache, ref.repo).snapshot(m.commit!), m.path).split(path.sep).join('/'), size: m.size }));
  try {
    const chosen = selectQuantFiles(files, ref.quant, ref.entry?.defaultQuant ?? loadRegistry().defaultQuant, ref.repo)[0]!;
    return pool[files.findIndex((f) => f.path === chosen.path)];
  } catch {
    return undefined;
  }
}

function readRef(config: StoreConfig, repo: string, revision: string): string | undefined {
  try {
    return readFileSync(repoPaths(config.hubCache, repo).ref(revision), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface RemoveResult {
  removed: string[];
  freedBytes: number;
}

/** Removes the model's snapshot links, the blobs no other link uses, and matching partial downloads. */
export async function removeModel(input: string, config: StoreConfig = storeConfig()): Promise<RemoveResult> {
  try {
    return await removeFromCache(input, config);
  } catch (err) {
    throw fileSystemError(err);
  }
}

async function removeFromCache(input: string, config: StoreConfig): Promise<RemoveResult> {
  const ref = parseModelRef(input, config.endpoint);
  if (ref.kind === 'path') throw new UserError(`petrel rm removes models from the cache; ${ref.path} is a plain file (delete it yourself)`, 'ERR_USER_BAD_REF');
  const found = findLocal(ref, config);
  const removed: string[] = [];
  let freedBytes = 0;
  const partials = listPartials(config).filter((p) => {
    if (ref.kind === 'url') return p.path.startsWith(config.urlCache) && ref.url.endsWith(p.file.replace(/^.*?\//, ''));
    if (p.repo?.toLowerCase() !== ref.repo.toLowerCase()) return false;
    if (ref.kind === 'hf-file') return p.file === ref.file;
    return quantOf(p.file) === wantedQuant(ref);
  });
  await refuseWhilePulling(ref, partials, config);
  for (const p of partials) {
    const st = statOrUndefined(p.path);
    freedBytes += st ? st.blocks * 512 : 0;
    await rm(p.path, { force: true });
    await rm(`${p.path}.json`, { force: true });
    removed.push(p.path);
  }
  if (!found && partials.length === 0) throw new UserError(`${describeRef(ref)} is not in the cache (petrel list shows what is)`, 'ERR_USER_NOT_PULLED');
  if (found) {
    if (ref.kind === 'url') {
      freedBytes += found.size;
      await rm(found.path, { force: true });
      await rm(urlSourcePath(found.path), { force: true });
      removed.push(found.path);
    } else {
      const paths = repoPaths(config.hubCache, ref.repo);
      const targets = new Set(found.files.flatMap((f) => linkTarget(f) ?? []));
      for (const f of found.files) {
        await rm(f, { force: true });
        removed.push(f);
      }
      // Blobs still linked from another snapshot (another revision with the same file) stay.
      const stillLinked = new Set(listLinks(path.join(paths.root, 'snapshots')).flatMap((l) => linkTarget(l) ?? []));
      for (const blob of targets) {
        if (stillLinked.has(blob)) continue;
        freedBytes += statOrUndefined(blob)?.size ?? 0;
        await rm(blob, { force: true });
        removed.push(blob);
      }
    }
  }
  if (ref.kind !== 'url') await pruneEmpty(repoPaths(config.hubCache, ref.repo).root);
  return { removed, freedBytes };
}

/**
 * A running pull holds a lock beside the blob it writes: removing its partial data (or the folder with its lock)
 * would pull the floor from under it and let a second pull in, so rm refuses and names the pull.
 */
async function refuseWhilePulling(ref: Exclude<ModelRef, { kind: 'path' }>, partials: PartialDownload[], config: StoreConfig): Promise<void> {
  const locks: Array<{ lock: string; file?: string }> = [];
  if (ref.kind === 'url') {
    const dest = urlCachePath(config.urlCache, ref.url);
    locks.push({ lock: `${dest}.petrel-lock`, file: path.basename(dest) });
  } else {
    // Every lock in the repository: one may be for a file whose partial state is not written yet.
    const blobs = repoPaths(config.hubCache, ref.repo).blobs;
    for (const f of walk(blobs).filter((b) => b.endsWith('.petrel-lock'))) locks.push({ lock: path.join(blobs, f) });
  }
  for (const p of partials) locks.push({ lock: p.path.replace(/\.petrel-partial$/, '.petrel-lock'), file: p.file });
  const seen = new Set<string>();
  for (const { lock, file } of locks) {
    if (seen.has(lock)) continue;
    seen.add(lock);
    const owner = await lockHolder(lock);
    if (!owner) continue;
    const what = owner.file ?? file;
    // A pull of another quantization of the same repository is left alone, and so is this rm.
    if (ref.kind === 'hf' && what && quantOf(what) !== wantedQuant(ref)) continue;
    if (ref.kind === 'hf-file' && what && what !== ref.file) continue;
    throw pulling(ref, owner, what);
  }
}

function wantedQuant(ref: Extract<ModelRef, { kind: 'hf' }>): string {
  return (ref.quant ?? ref.entry?.defaultQuant ?? loadRegistry().defaultQuant).toUpperCase();
}

function pulling(ref: Exclude<ModelRef, { kind: 'path' }>, owner: LockOwner, file: string | undefined): UserError {
  const who = owner.pid > 0 ? `petrel pull (pid ${owner.pid}${owner.host !== hostname() ? ` on ${owner.host}` : ''})` : 'another petrel pull';
  return new UserError(
    `${describeRef(ref)} is being downloaded by ${who}${file ? `: ${file}` : ''}; stop that pull first (Ctrl-C keeps its partial download) or wait for it to finish`,
    'ERR_USER_BUSY',
  );
}

function listLinks(dir: string): string[] {
  return walk(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => linkTarget(f) !== undefined);
}

/** Where a snapshot link points, resolved; undefined for a plain file or one that is gone. */
function linkTarget(link: string): string | undefined {
  try {
    return path.resolve(path.dirname(link), readlinkSync(link));
  } catch {
    return undefined;
  }
}

/** Drops empty snapshot folders, and the whole repository folder once no file is left in it. */
async function pruneEmpty(root: string): Promise<void> {
  const files = walk(path.join(root, 'snapshots'));
  const blobs = walk(path.join(root, 'blobs'));
  const leftover = (b: string) => b.endsWith('.petrel-lock') || (b.endsWith('.petrel-partial.json') && !existsSync(path.join(root, 'blobs', b.slice(0, -'.json'.length))));
  if (files.length > 0 || !blobs.every(leftover) || !existsSync(root)) return;
  // A lock with no data yet belongs to a pull that is just starting: its folder stays.
  for (const b of blobs) if (await lockHolder(path.join(root, 'blobs', b))) return;
  await rm(root, { recursive: true, force: true });
}
