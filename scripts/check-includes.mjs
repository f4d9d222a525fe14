#!/usr/bin/env node
// The include direction of native/ (docs/ARCHITECTURE.md), checked by `npm run lint:layers`: a
// file may include its own folder and the layers below its own, never a layer above nor another
// folder of its own layer. Prints file:line and the rule for each #include "…" against it and
// exits 1; a folder in no layer fails too. No dependencies: node scripts/check-includes.mjs [native-dir]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Top to bottom. A unit is a folder of native/; backend/ splits into its interface (the files
 * directly in it) and one unit per backend; `petrel` is include/petrel/, the public contract. */
const LAYERS = [
  { name: 'entry points', units: ['addon', 'tools', 'bench', 'fuzz', 'tests'] },
  // Synthetic models choose each tensor's type as the quantizer would (quantize/type_policy.h).
  { name: 'synthetic models', units: ['synth'] },
  { name: 'pipelines', units: ['engine', 'quantize'] },
  { name: 'model', units: ['model'] },
  { name: 'expert offload', units: ['offload'] },
  { name: 'backends', units: ['backend/cpu', 'backend/cuda', 'backend/vulkan'] },
  { name: 'backend interface', units: ['backend'] },
  { name: 'file formats', units: ['gguf'] },
  { name: 'tensor types', units: ['quant'] },
  { name: 'platform', units: ['core'] },
  { name: 'public contract', units: ['petrel'] },
];

/**
 * Known violations, allowed until they are fixed: `file` and `include` are path prefixes (file
 * relative to native/, include as written). Empty: offload/ stopped including model/ in c84a6e6
 * (issue 17 item 4); an entry that matches nothing is reported so that it gets removed.
 */
const ALLOWED = [
  // { file: 'offload/', include: 'model/', reason: 'being removed (issue 17 item 4)' },
];

const SOURCE = /\.(h|hh|hpp|c|cc|cpp|cu|cuh)$/;
const SKIP_DIRS = new Set(['build', 'cmake', 'node_modules', '.git']);
const INCLUDE = /^\s*#\s*include\s+"([^"]+)"/;

const layerOf = new Map(LAYERS.flatMap((layer, index) => layer.units.map((unit) => [unit, index])));

/** The unit of a path relative to native/ (a file, or an include as written). */
function unitOf(rel) {
  const parts = rel.split('/');
  if (parts[0] === 'include' && parts[1] === 'petrel') return 'petrel';
  if (parts[0] === 'petrel') return 'petrel';
  if (parts[0] === 'backend') return parts.length > 2 ? `backend/${parts[1]}` : 'backend';
  return parts.length > 1 ? parts[0] : '.';
}

function describe(unit) {
  const index = layerOf.get(unit);
  return index === undefined ? `${unit}/ (in no layer)` : `${unit}/ (layer ${index + 1}, ${LAYERS[index].name})`;
}

function* sourceFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) {
      if (!SKIP_DIRS.has(name)) yield* sourceFiles(full);
    } else if (SOURCE.test(name)) {
      yield full;
    }
  }
}

/** The include's path relative to native/, or undefined for one beside the file (or not in native/). */
function resolveInclude(nativeDir, file, written) {
  if (existsSync(path.join(path.dirname(file), written))) {
    const rel = path.relative(nativeDir, path.join(path.dirname(file), written));
    // "x.h" next to the file is its own folder; "../x.h" is judged like any other path.
    return written.includes('/') ? rel.split(path.sep).join('/') : undefined;
  }
  for (const base of [nativeDir, path.join(nativeDir, 'include')]) {
    if (existsSync(path.join(base, written))) return path.relative(nativeDir, path.join(base, written)).split(path.sep).join('/');
  }
  return undefined;
}

export function checkIncludes(nativeDir) {
  const violations = [];
  const allowedUsed = new Set();
  for (const file of sourceFiles(nativeDir)) {
    const rel = path.relative(nativeDir, file).split(path.sep).join('/');
    const from = unitOf(rel);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const m = INCLUDE.exec(line);
      if (!m) return;
      const target = resolveInclude(nativeDir, file, m[1]);
      if (target === undefined) return;
      const to = unitOf(target);
      if (to === from) return;
      const fromLayer = layerOf.get(from);
      const toLayer = layerOf.get(to);
      let rule;
      if (fromLayer === undefined || toLayer === undefined) {
        rule = `${describe(fromLayer === undefined ? from : to)}: add the folder to LAYERS in scripts/check-includes.mjs`;
      } else if (toLayer < fromLayer) {
        rule = `${describe(from)} may not include ${describe(to)}: a layer includes only the layers below it`;
      } else if (toLayer === fromLayer) {
        rule = `${describe(from)} may not include ${describe(to)}: folders of one layer stay independent`;
      } else {
        return;
      }
      const allowed = ALLOWED.findIndex((a) => rel.startsWith(a.file) && m[1].startsWith(a.include));
      if (allowed >= 0) {
        allowedUsed.add(allowed);
        return;
      }
      violations.push(`native/${rel}:${i + 1}: #include "${m[1]}": ${rule}`);
    });
  }
  const stale = ALLOWED.filter((_, i) => !allowedUsed.has(i)).map((a) => `${a.file} -> ${a.include}`);
  return { violations, allowedCount: allowedUsed.size, stale };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const nativeDir = path.resolve(process.argv[2] ?? path.join(root, 'native'));
  const { violations, stale } = checkIncludes(nativeDir);
  for (const s of stale) console.error(`check-includes: allow-list entry ${s} matches no include any more: remove it`);
  if (violations.length > 0) {
    for (const v of violations) console.error(v);
    console.error(`check-includes: ${violations.length} #include(s) against the layer order (top to bottom: ` +
      `${LAYERS.map((l) => l.units.join(' ')).join(' > ')}); see docs/ARCHITECTURE.md`);
    process.exit(1);
  }
  console.log(`check-includes: native/ includes follow the layer order`);
}
