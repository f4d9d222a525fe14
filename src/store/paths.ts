// The Hugging Face hub cache layout (shared with huggingface_hub and llama.cpp):
//   models--{owner}--{repo}/blobs/{sha256}            the bytes, named by their LFS hash
//   models--{owner}--{repo}/snapshots/{commit}/{path} relative symlink to ../../blobs/{sha256}
//   models--{owner}--{repo}/refs/{revision}           the commit a branch pointed to
// petrel's partial data and its state sit beside the blob under names no other tool uses,
// because huggingface_hub resumes `{sha}.incomplete` by appending, which segmented data would break.
import path from 'node:path';

export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

export function repoFromFolderName(name: string): string | undefined {
  if (!name.startsWith('models--')) return undefined;
  return name.slice('models--'.length).split('--').join('/');
}

export interface RepoPaths {
  root: string;
  blobs: string;
  blob(sha256: string): string;
  partial(sha256: string): string;
  partialState(sha256: string): string;
  lock(sha256: string): string;
  snapshot(commit: string, file?: string): string;
  ref(revision: string): string;
}

export function repoPaths(hubCache: string, repo: string): RepoPaths {
  const root = path.join(hubCache, repoFolderName(repo));
  const blobs = path.join(root, 'blobs');
  return {
    root,
    blobs,
    blob: (sha) => path.join(blobs, sha),
    partial: (sha) => path.join(blobs, `${sha}.petrel-partial`),
    partialState: (sha) => path.join(blobs, `${sha}.petrel-partial.json`),
    lock: (sha) => path.join(blobs, `${sha}.petrel-lock`),
    snapshot: (commit, file) => (file ? path.join(root, 'snapshots', commit, ...file.split('/')) : path.join(root, 'snapshots', commit)),
    ref: (revision) => path.join(root, 'refs', ...revision.split('/')),
  };
}

/** The relative link target from snapshots/{commit}/{file} to blobs/{sha}, as huggingface_hub writes it. */
export function blobLinkTarget(file: string, sha256: string): string {
  const depth = file.split('/').length - 1;
  return path.posix.join(...Array<string>(2 + depth).fill('..'), 'blobs', sha256);
}

/**
 * Where a plain URL's file goes: <urlCache>/<host_port>/<path…>. Each path part is decoded, so an encoded
 * "/" or ".." ("..%2F..%2F.bashrc") cannot lead outside the cache: decoded slashes split parts, dot parts go.
 */
export function urlCachePath(urlCache: string, url: string): string {
  const u = new URL(url);
  const parts = u.pathname
    .split('/')
    .flatMap((p) => safeDecode(p).replace(/\0/g, '_').split('/'))
    .filter((p) => p && p !== '.' && p !== '..');
  return path.join(urlCache, u.host.replace(/:/g, '_'), ...parts);
}

/** Beside a URL download: the URL it came from, for `list` (the folder name cannot tell http from https). */
export function urlSourcePath(file: string): string {
  return `${file}.petrel-url`;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a stray "%": keep the part as written
  }
}
