// Every way a model can be named: alias, hf:owner/repo[:quant], hf:owner/repo/path/file.gguf,
// https://huggingface.co/… (or the HF_ENDPOINT mirror) URLs, plain https:// URLs, and local paths.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { lookupAlias, type RegistryEntry } from './registry.js';

export type ModelRef =
  /** A repository plus a quantization: files are picked by listing the repo. */
  | { kind: 'hf'; repo: string; revision: string; quant?: string; alias?: string; entry?: RegistryEntry }
  /** One file in a repository (the other parts of a split file come along). */
  | { kind: 'hf-file'; repo: string; revision: string; file: string }
  | { kind: 'url'; url: string }
  | { kind: 'path'; path: string };

const HF_HOSTS = new Set(['huggingface.co', 'hf.co', 'www.huggingface.co']);
const REPO_PART = /^[A-Za-z0-9][\w.-]*$/;

export function parseModelRef(input: string, endpoint = 'https://huggingface.co'): ModelRef {
  const text = input.trim();
  if (!text) throw new UserError('no model given', 'ERR_USER_BAD_REF');
  if (/^(hf|huggingface):/i.test(text)) return parseHfSpec(text.replace(/^(hf|huggingface):(\/\/)?/i, ''), input);
  if (/^https?:\/\//i.test(text)) return parseUrl(text, endpoint);
  if (/^hf\.co\//i.test(text)) return parseHfSpec(text.slice('hf.co/'.length), input);
  if (/^file:\/\//i.test(text)) return { kind: 'path', path: fileUrlPath(text) };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) throw new UserError(`unsupported URL scheme "${scheme[1]}:" in ${text}; petrel downloads https:// and http:// URLs`, 'ERR_USER_BAD_REF');

  const expanded = text.startsWith('~/') ? path.join(homedir(), text.slice(2)) : text;
  if (existsSync(expanded) || /\.gguf$/i.test(text) || text.startsWith('.') || path.isAbsolute(text)) {
    return { kind: 'path', path: path.resolve(expanded) };
  }
  const alias = lookupAlias(text);
  if (alias) return { kind: 'hf', repo: alias.entry.repo, revision: 'main', quant: alias.quant, alias: alias.alias, entry: alias.entry };
  // llama.cpp's -hf accepts a bare owner/repo[:quant]; so do we, once paths and aliases are ruled out.
  if (/^[^/:]+\/[^/:]+(:[^/:]+)?$/.test(text)) return parseHfSpec(text, input);
  throw new UserError(`"${input}" is not a model alias, hf: reference, URL or existing file`, 'ERR_USER_BAD_REF');
}

/** owner/repo[@rev][:quant] or owner/repo[@rev]/path/to/file.gguf (also #rev, as node-llama-cpp writes it). */
function parseHfSpec(spec: string, input: string): ModelRef {
  let rest = spec;
  let revision = 'main';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    revision = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  const parts = rest.split('/');
  if (parts.length < 2) throw badHf(input);
  let [owner, repoName] = parts as [string, string];
  let quant: string | undefined;
  if (parts.length === 2 && repoName.includes(':')) [repoName, quant] = repoName.split(':', 2) as [string, string];
  const at = repoName.indexOf('@');
  if (at >= 0) {
    revision = repoName.slice(at + 1);
    repoName = repoName.slice(0, at);
  }
  if (!REPO_PART.test(owner) || !REPO_PART.test(repoName) || !revision) throw badHf(input);
  const repo = `${owner}/${repoName}`;
  if (parts.length > 2) {
    const file = parts.slice(2).join('/');
    if (!file || file.split('/').some((p) => p === '' || p === '..' || p === '.')) throw badHf(input);
    return { kind: 'hf-file', repo, revision, file };
  }
  return { kind: 'hf', repo, revision, ...(quant ? { quant: quant.toUpperCase() } : {}) };
}

function parseUrl(text: string, endpoint: string): ModelRef {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`"${text}" is not a valid URL`, 'ERR_USER_BAD_REF');
  }
  const endpointHost = safeHost(endpoint);
  if (HF_HOSTS.has(url.hostname) || url.host === endpointHost) {
    // https://huggingface.co/owner/repo, …/resolve/<rev>/<file>, …/blob/<rev>/<file>, …/tree/<rev>
    const p = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (p.length >= 2 && p[0] !== 'api') {
      const repo = `${p[0]}/${p[1]}`;
      if (p.length === 2 && !/\.gguf$/i.test(p[1]!)) return { kind: 'hf', repo, revision: 'main' };
      if ((p[2] === 'resolve' || p[2] === 'blob') && p.length >= 5) return { kind: 'hf-file', repo, revision: p[3]!, file: p.slice(4).join('/') };
      if (p[2] === 'tree' && p.length >= 4) return { kind: 'hf', repo, revision: p[3]! };
    }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UserError(`unsupported URL scheme in ${text}`, 'ERR_USER_BAD_REF');
  return { kind: 'url', url: url.toString() };
}

function fileUrlPath(text: string): string {
  try {
    return fileURLToPath(text);
  } catch {
    throw new UserError(`"${text}" is not a valid file:// URL`, 'ERR_USER_BAD_REF');
  }
}

function safeHost(endpoint: string): string | undefined {
  try {
    return new URL(endpoint).host;
  } catch {
    return undefined;
  }
}

function badHf(input: string): UserError {
  return new UserError(`bad Hugging Face reference "${input}"; expected hf:owner/repo[:quant] or hf:owner/repo/path/file.gguf`, 'ERR_USER_BAD_REF');
}

export function describeRef(ref: ModelRef): string {
  switch (ref.kind) {
    case 'hf':
      return `${ref.alias ? `${ref.alias} (` : ''}hf:${ref.repo}${ref.quant ? `:${ref.quant}` : ''}${ref.alias ? ')' : ''}`;
    case 'hf-file':
      return `hf:${ref.repo}/${ref.file}`;
    case 'url':
      return ref.url;
    case 'path':
      return ref.path;
  }
}
