// A Hugging Face model folder: config.json, the .safetensors files (listed by
// model.safetensors.index.json, or every *.safetensors file when there is no index) and their tensor
// headers. Names are normalised the way llama.cpp's converter sees them: the VLM prefix
// "model.language_model." becomes "model.", and the vision tower is left out.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { readSafetensorsHeader, type SafetensorsTensor } from './safetensors.js';

export interface Checkpoint {
  dir: string;
  /** config.json as parsed. */
  config: Record<string, unknown>;
  /** The text model's part of it (text_config for the VLM classes, else config itself). */
  textConfig: Record<string, unknown>;
  files: string[];
  /** By normalised name. */
  tensors: Map<string, SafetensorsTensor>;
}

export function readJson(file: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`${file}: cannot read ${what}: ${(err as Error).message.split('\n')[0]}`, 'ERR_CORRUPT_FILE');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError(`${file}: ${what} is not a JSON object`, 'ERR_CORRUPT_FILE');
  }
  return value as Record<string, unknown>;
}

/** True for a directory that looks like a Hugging Face checkpoint. */
export function isCheckpointDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory() && existsSync(path.join(p, 'config.json'));
}

const VISION_PREFIXES = ['model.visual.', 'visual.', 'model.vision_tower.', 'vision_tower.', 'model.multi_modal_projector.'];

function normaliseName(name: string): string | undefined {
  if (VISION_PREFIXES.some((p) => name.startsWith(p))) return undefined;
  if (name.startsWith('model.language_model.')) return 'model.' + name.slice('model.language_model.'.length);
  if (name.startsWith('language_model.model.')) return 'model.' + name.slice('language_model.model.'.length);
  if (name.startsWith('language_model.lm_head.')) return name.slice('language_model.'.length);
  return name;
}

export function readCheckpoint(dir: string): Checkpoint {
  const configPath = path.join(dir, 'config.json');
  if (!existsSync(configPath)) throw new UserError(`${dir}: no config.json (not a Hugging Face model folder)`, 'ERR_USER_NO_FILE');
  const config = readJson(configPath, 'config.json');
  const text = config['text_config'];
  const textConfig = typeof text === 'object' && text !== null ? { ...config, ...(text as Record<string, unknown>) } : config;

  const indexPath = path.join(dir, 'model.safetensors.index.json');
  let files: string[];
  let weightMap: Record<string, unknown> | undefined;
  if (existsSync(indexPath)) {
    const index = readJson(indexPath, 'the safetensors index');
    const map = index['weight_map'];
    if (typeof map !== 'object' || map === null) throw new UserError(`${indexPath}: no weight_map`, 'ERR_CORRUPT_FILE');
    weightMap = map as Record<string, unknown>;
    const names = new Set<string>();
    for (const [tensor, file] of Object.entries(weightMap)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
        throw new UserError(`${indexPath}: tensor ${JSON.stringify(tensor)} maps to a bad file name`, 'ERR_CORRUPT_FILE');
      }
      names.add(file);
    }
    files = [...names].sort();
  } else {
    files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  }
  if (files.length === 0) throw new UserError(`${dir}: no .safetensors files`, 'ERR_USER_NO_FILE');
  const paths = files.map((f) => path.join(dir, f));
  for (const p of paths) {
    if (!existsSync(p)) throw new UserError(`${p}: no such file (named by the safetensors index)`, 'ERR_USER_NO_FILE');
  }

  const tensors = new Map<string, SafetensorsTensor>();
  paths.forEach((p, i) => {
    for (const t of readSafetensorsHeader(p, i)) {
      if (weightMap && weightMap[t.name] !== undefined && weightMap[t.name] !== files[i]) continue;
      const name = normaliseName(t.name);
      if (name === undefined) continue;
      if (tensors.has(name)) throw new UserError(`${p}: tensor ${JSON.stringify(t.name)} appears twice in the checkpoint`, 'ERR_CORRUPT_FILE');
      tensors.set(name, { ...t, name });
    }
  });
  if (weightMap) {
    for (const [name, file] of Object.entries(weightMap)) {
      const n = normaliseName(name);
      if (n !== undefined && !tensors.has(n)) {
        throw new UserError(`${path.join(dir, String(file))}: tensor ${JSON.stringify(name)} listed in the index is missing`, 'ERR_CORRUPT_FILE');
      }
    }
  }
  return { dir, config, textConfig, files: paths, tensors };
}
