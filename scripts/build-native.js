#!/usr/bin/env node
// Builds the native addon (native/ -> build/native/Release/petrel.node) with cmake-js.
// Runs as the package's install script and as `npm run build:native`.
// PETREL_CUDA=OFF skips the CUDA backend even when nvcc is installed (ON makes it required).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');

const args = [cmakeJs, 'compile', '-d', 'native', '-O', 'build/native', '--config', 'Release',
  '-p', String(availableParallelism())];
const cuda = process.env.PETREL_CUDA;
if (cuda) args.push(`--CDPETREL_CUDA=${cuda.toUpperCase()}`);
if (process.env.PETREL_ASAN === '1') args.push('--CDPETREL_ASAN=ON');
args.push('--CDPETREL_BUILD_TESTS=OFF');

// Build against the headers of the Node that runs us when they are installed next to it
// (there may be no network to download them from).
const env = { ...process.env };
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix;
}

const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (result.status !== 0) {
  process.stderr.write('petrel: building the native addon failed (see the output above)\n');
  process.exit(result.status ?? 1);
}
