// Environment read once: where the Hugging Face cache lives, which hub to talk to, which token to send.
// The precedence follows huggingface_hub (and llama.cpp since it adopted the same cache), so files are shared.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export interface StoreConfig {
  /** $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
  hubCache: string;
  /** Hub endpoint without a trailing slash ($HF_ENDPOINT, else https://huggingface.co). */
  endpoint: string;
  /** $HF_TOKEN, else the contents of $HF_TOKEN_PATH or $HF_HOME/token (what `hf auth login` writes). */
  token?: string;
  /** Where plain https:// downloads go (they have no hub repository to file them under). */
  urlCache: string;
  /** No data for this long on a connection counts as a stall (PETREL_STALL_MS; tests lower it). */
  stallMs: number;
  /** Attempts per segment without progress before giving up (PETREL_RETRIES). */
  retries: number;
  /** Base of the exponential backoff in ms (PETREL_BACKOFF_MS; tests lower it). */
  backoffMs: number;
}

let cached: StoreConfig | undefined;

export function storeConfig(env: NodeJS.ProcessEnv = process.env): StoreConfig {
  if (cached && env === process.env) return cached;
  const xdg = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  const hfHome = env.HF_HOME || path.join(xdg, 'huggingface');
  const hubCache = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(hfHome, 'hub');
  const config: StoreConfig = {
    hubCache: path.resolve(hubCache),
    endpoint: (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, ''),
    token: readToken(env, hfHome),
    urlCache: path.resolve(env.PETREL_URL_CACHE || path.join(xdg, 'petrel', 'urls')),
    stallMs: positiveInt(env.PETREL_STALL_MS, 20_000),
    retries: positiveInt(env.PETREL_RETRIES, 8),
    backoffMs: positiveInt(env.PETREL_BACKOFF_MS, 1000),
  };
  if (env === process.env) cached = config;
  return config;
}

function readToken(env: NodeJS.ProcessEnv, hfHome: string): string | undefined {
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return fromEnv.trim();
  try {
    const t = readFileSync(env.HF_TOKEN_PATH || path.join(hfHome, 'token'), 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

function positiveInt(value: string | undefined, fallback: number): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : fallback;
}
