// models.json: petrel's alias registry (alias → Hugging Face GGUF repository + facts about the model).
// The registry stores no file names: the quantization picks files by listing the repository (hubFiles.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

export interface RegistryEntry {
  repo: string;
  architecture: string;
  parameters: string;
  activeParameters?: string;
  contextLength: number;
  license: string;
  /** Overrides the registry-wide default (small models ship no Q4_K_M in some repos). */
  defaultQuant?: string;
}

export interface Registry {
  defaultQuant: string;
  families: Record<string, string>;
  models: Record<string, RegistryEntry>;
}

let loaded: Registry | undefined;

/** models.json sits at the package root, two levels above dist/store/ (and src/store/). */
export function loadRegistry(file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models.json')): Registry {
  if (loaded) return loaded;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<Registry>;
  loaded = { defaultQuant: raw.defaultQuant ?? 'Q4_K_M', families: raw.families ?? {}, models: raw.models ?? {} };
  return loaded;
}

export interface AliasMatch {
  alias: string;
  entry: RegistryEntry;
  quant: string;
}

/**
 * `qwen3.5:9b` → default quant; `qwen3.5:9b-q8_0` → Q8_0; `qwen3.5` → the family default.
 * Returns undefined when the name is not an alias at all; throws when it looks like one but is unknown.
 */
export function lookupAlias(name: string, registry = loadRegistry()): AliasMatch | undefined {
  const lower = name.toLowerCase();
  const family = lower.split(':')[0] ?? lower;
  const knownFamily = Object.keys(registry.families).includes(family) || Object.keys(registry.models).some((a) => a.startsWith(family + ':'));
  if (!knownFamily) return undefined;
  const base = lower.includes(':') ? lower : registry.families[family];
  if (base === undefined) throw unknownAlias(name, registry);
  // Longest alias that is the whole name or the name up to a "-quant" tag.
  const aliases = Object.keys(registry.models).sort((a, b) => b.length - a.length);
  for (const alias of aliases) {
    const entry = registry.models[alias]!;
    if (base === alias) return { alias, entry, quant: entry.defaultQuant ?? registry.defaultQuant };
    if (base.startsWith(alias + '-')) return { alias, entry, quant: base.slice(alias.length + 1).toUpperCase() };
  }
  throw unknownAlias(name, registry);
}

function unknownAlias(name: string, registry: Registry): UserError {
  const family = name.toLowerCase().split(':')[0] ?? '';
  const sizes = Object.keys(registry.models).filter((a) => a.startsWith(family + ':'));
  return new UserError(`unknown model "${name}"; known: ${sizes.join(', ')}`, 'ERR_USER_UNKNOWN_MODEL');
}
