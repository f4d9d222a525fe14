// Picks the GGUF files for a quantization by listing the repository, as llama.cpp's `-hf repo:quant` does:
// the quant is matched case-insensitively as a name component; split models come as all their parts.
import { UserError } from '../errors.js';
import type { HubFile } from './hub.js';

const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;

export function isGguf(file: string): boolean {
  return /\.gguf$/i.test(file) && !/(^|\/)mmproj[^/]*$/i.test(file);
}

/** The first part of a split file and how many parts it has, or undefined for a single file. */
export function splitInfo(file: string): { prefix: string; index: number; count: number } | undefined {
  const m = SPLIT.exec(file);
  if (!m) return undefined;
  return { prefix: file.slice(0, m.index), index: Number(m[1]), count: Number(m[2]) };
}

/** Every part of the split set `file` belongs to, in order (or just [file]). Throws if a part is missing. */
export function withSplitParts(file: HubFile, all: HubFile[]): HubFile[] {
  const info = splitInfo(file.path);
  if (!info) return [file];
  const parts: HubFile[] = [];
  for (let i = 1; i <= info.count; i++) {
    const name = `${info.prefix}-${String(i).padStart(5, '0')}-of-${String(info.count).padStart(5, '0')}.gguf`;
    const part = all.find((f) => f.path.toLowerCase() === name.toLowerCase());
    if (!part) throw new UserError(`split model ${file.path}: part ${name} is missing from the repository`, 'ERR_USER_NOT_FOUND');
    parts.push(part);
  }
  return parts;
}

/** Does the quant appear as a whole name component ("-Q4_K_M.gguf", "/Q4_K_M/", ".Q4_K_M-00001-of…")? */
function matchesQuant(file: string, quant: string): boolean {
  const q = quant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[-._/])${q}([-._/]|$)`, 'i').test(file.replace(SPLIT, '.gguf'));
}

/**
 * The files to fetch for `quant` (or the default, else the first GGUF when the repo has no default-quant file).
 * Plain names are preferred over variants such as "UD-Q4_K_M"; the shortest path wins ties.
 */
export function selectQuantFiles(files: HubFile[], quant: string | undefined, defaultQuant: string, repo: string): HubFile[] {
  const ggufs = files.filter((f) => isGguf(f.path)).filter((f) => (splitInfo(f.path)?.index ?? 1) === 1);
  if (ggufs.length === 0) throw new UserError(`${repo} has no GGUF files`, 'ERR_USER_NOT_FOUND');
  const wanted = quant ?? defaultQuant;
  const rank = (f: HubFile): [number, number] => [/(^|[-_/])UD-/i.test(f.path) ? 1 : 0, f.path.length];
  const matches = ggufs
    .filter((f) => matchesQuant(f.path, wanted))
    .sort((a, b) => rank(a)[0] - rank(b)[0] || rank(a)[1] - rank(b)[1] || a.path.localeCompare(b.path));
  const chosen = matches[0] ?? (quant === undefined ? [...ggufs].sort((a, b) => a.path.localeCompare(b.path))[0] : undefined);
  if (!chosen) {
    const available = [...new Set(ggufs.map((f) => quantOf(f.path)).filter(Boolean))].sort();
    throw new UserError(`${repo} has no ${wanted} file; available: ${available.join(', ') || ggufs.map((f) => f.path).join(', ')}`, 'ERR_USER_NOT_FOUND');
  }
  return withSplitParts(chosen, files);
}

const QUANT_NAME = /(?:^|[-._/])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|MXFP4(?:_MOE)?|TQ\d_\d))(?=[-._/]|$)/i;

/** The quantization named in a file name (for `list`); undefined when the name carries none. */
export function quantOf(file: string): string | undefined {
  const base = file.replace(SPLIT, '.gguf').replace(/\.gguf$/i, '');
  const all = [...base.matchAll(new RegExp(QUANT_NAME.source, 'gi'))];
  return all.length ? all[all.length - 1]![1]!.toUpperCase() : undefined;
}
