// llama-bench's footer names the build: "build: <commit> (<number>)", the number being the commit
// count. petrel reads both from git when it runs from a checkout; an installed package has neither.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native/index.js';

export interface BuildInfo {
  commit: string;
  number: number;
}

let cached: BuildInfo | undefined;

export function petrelBuild(root = packageRoot()): BuildInfo {
  if (cached) return cached;
  cached = { commit: 'unknown', number: 0 };
  if (!existsSync(path.join(root, '.git'))) return cached;
  const git = (...args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 5000 });
  const commit = git('rev-parse', '--short=8', 'HEAD');
  const count = git('rev-list', '--count', 'HEAD');
  if (commit.status === 0) cached.commit = commit.stdout.trim();
  if (count.status === 0 && /^\d+$/.test(count.stdout.trim())) cached.number = Number(count.stdout.trim());
  return cached;
}
