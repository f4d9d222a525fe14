// The Hugging Face hub API petrel uses: model info (commit + files), the recursive tree (sizes + LFS sha256),
// and resolve URLs. Errors are turned into messages that say what to do (token, name, network).
import { UserError } from '../errors.js';
import { HttpStatusError, httpJson, networkError, redact, withRetries, type RequestOptions } from './http.js';
import type { StoreConfig } from './config.js';

export interface HubFile {
  path: string;
  size: number;
  /** LFS sha256 (all GGUFs on the hub are LFS); undefined for small git files. */
  sha256?: string;
  /** Git object id: the blob name huggingface_hub uses for files that are not in LFS. */
  oid?: string;
}

export interface RepoListing {
  repo: string;
  /** The commit the revision resolved to. */
  commit: string;
  files: HubFile[];
}

interface ModelInfo {
  sha?: string;
  siblings?: Array<{ rfilename: string }>;
  gated?: unknown;
}

interface TreeEntry {
  type: string;
  path: string;
  size: number;
  oid?: string;
  lfs?: { oid: string; size: number };
}

export class HubClient {
  constructor(
    private readonly config: StoreConfig,
    private readonly signal?: AbortSignal,
    private readonly onRetry?: (msg: string, delayMs: number) => void,
  ) {}

  get endpointOrigin(): string {
    return new URL(this.config.endpoint).origin;
  }

  requestOptions(): RequestOptions {
    return {
      signal: this.signal,
      ...(this.config.token ? { token: { value: this.config.token, origin: this.endpointOrigin } } : {}),
    };
  }

  resolveUrl(repo: string, revision: string, file: string): string {
    return `${this.config.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Commit + every file with its size and LFS hash. */
  async listRepo(repo: string, revision: string): Promise<RepoListing> {
    const info = await this.getJson<ModelInfo>(
      `${this.config.endpoint}/api/models/${repo}${revision === 'main' ? '' : `/revision/${encodeURIComponent(revision)}`}`,
      repo,
    );
    if (!info.sha) throw new UserError(`the hub sent no commit for ${repo}@${revision}`, 'ERR_USER_HUB');
    const files: HubFile[] = [];
    // The tree of the exact commit, so sizes and hashes match what resolve/<commit> serves.
    let next: string | undefined = `${this.config.endpoint}/api/models/${repo}/tree/${info.sha}?recursive=true`;
    while (next) {
      const { data, headers } = await this.getJsonWithHeaders<TreeEntry[]>(next, repo);
      for (const e of data) {
        if (e.type !== 'file') continue;
        files.push({ path: e.path, size: e.lfs?.size ?? e.size, ...(e.lfs?.oid ? { sha256: e.lfs.oid } : {}), ...(e.oid ? { oid: e.oid } : {}) });
      }
      next = nextLink(headers.link);
    }
    // Older mirrors only answer model info; fall back to its file names (sizes come from the download).
    if (files.length === 0 && info.siblings) for (const s of info.siblings) files.push({ path: s.rfilename, size: -1 });
    return { repo, commit: info.sha, files };
  }

  private async getJson<T>(url: string, repo: string): Promise<T> {
    return (await this.getJsonWithHeaders<T>(url, repo)).data;
  }

  private async getJsonWithHeaders<T>(url: string, repo: string): Promise<{ data: T; headers: Record<string, unknown> }> {
    try {
      return await withRetries(() => httpJson<T>(url, this.requestOptions()), {
        retries: this.config.retries,
        backoffMs: this.config.backoffMs,
        signal: this.signal,
        onRetry: (err, delay) => this.onRetry?.(`${describeError(err)}; retrying`, delay),
      });
    } catch (err) {
      throw hubError(networkError(err, url), repo, !!this.config.token);
    }
  }
}

function nextLink(link: unknown): string | undefined {
  if (typeof link !== 'string') return undefined;
  const m = /<([^>]+)>;\s*rel="next"/.exec(link);
  return m?.[1];
}

/** Turns HTTP failures into one-line messages the user can act on. */
export function hubError(err: unknown, what: string, hasToken: boolean): unknown {
  if (!(err instanceof HttpStatusError)) return err;
  if (err.status === 401 || err.status === 403) {
    return new UserError(
      hasToken
        ? `${what}: access denied (HTTP ${err.status}); accept the model's license on its Hugging Face page and check that HF_TOKEN can read it`
        : `${what}: this repository needs a Hugging Face token (HTTP ${err.status}); set HF_TOKEN or run "hf auth login"`,
      'ERR_USER_AUTH',
    );
  }
  if (err.status === 404) return new UserError(`${what}: not found on the hub (${redact(err.url)})`, 'ERR_USER_NOT_FOUND');
  return new UserError(`${what}: ${err.message}`, 'ERR_USER_HTTP');
}

export function describeError(err: unknown): string {
  if (err instanceof HttpStatusError) return err.message;
  const e = err as { code?: string; message?: string };
  return e?.code ? `${e.code}${e.message ? ` (${e.message})` : ''}` : String(e?.message ?? err);
}
