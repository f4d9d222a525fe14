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
  /**
   * What to ask resolve/ for: the commit, or the revision name when the endpoint (a mirror that only knows
   * branch names) refused the commit.
   */
  resolveAs: string;
  /** The revision as asked (a branch, a tag or a commit). */
  revision: string;
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
    /** Retries and fallbacks, as one-line notices. */
    private readonly onNotice?: (msg: string) => void,
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

  /** The resolve URLs to try for a file, in order: the listed commit, then the revision name (mirrors). */
  resolveUrls(listing: RepoListing, file: string): string[] {
    const revs = [...new Set([listing.resolveAs, listing.commit, listing.revision])];
    return revs.map((rev) => this.resolveUrl(listing.repo, rev, file));
  }

  /** Commit + every file with its size and LFS hash. */
  async listRepo(repo: string, revision: string): Promise<RepoListing> {
    const info = await this.getJson<ModelInfo>(
      `${this.config.endpoint}/api/models/${repo}${revision === 'main' ? '' : `/revision/${encodeURIComponent(revision)}`}`,
      repo,
    );
    if (!info.sha) throw new UserError(`the hub sent no commit for ${repo}@${revision}`, 'ERR_USER_HUB');
    // The commit, the hashes and the file paths become parts of paths in the cache: a hostile or broken
    // endpoint must not be able to name a place outside it.
    if (!/^[0-9a-f]{40}$/.test(info.sha)) throw badListing(repo, `commit "${info.sha.slice(0, 80)}"`);
    // The tree of the exact commit, so sizes and hashes match what resolve/<commit> serves. A mirror that
    // only knows branch names answers 404 to the commit: then the revision as asked, and resolve/ by name too
    // (the SHA-256 check still holds each file to the hash the tree gave).
    let resolveAs = info.sha;
    let files = await this.listTree(repo, info.sha);
    if (files === undefined && revision !== info.sha) {
      files = await this.listTree(repo, revision);
      resolveAs = revision;
      this.onNotice?.(`${this.endpointOrigin} does not know commit ${info.sha.slice(0, 10)}; using the revision "${revision}"`);
    }
    files ??= [];
    // Older mirrors only answer model info; fall back to its file names (sizes come from the download).
    if (files.length === 0 && info.siblings) for (const s of info.siblings) files.push({ path: s.rfilename, size: -1 });
    for (const f of files) {
      if (!safeRepoPath(f.path)) throw badListing(repo, `file path "${String(f.path).slice(0, 80)}"`);
      if (f.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(f.sha256)) throw badListing(repo, `hash of ${f.path}`);
      if (f.oid !== undefined && !/^[0-9a-f]{40,64}$/.test(f.oid)) throw badListing(repo, `object id of ${f.path}`);
    }
    return { repo, commit: info.sha, resolveAs, revision, files };
  }

  /** Every file of the tree at `rev`, or undefined when the endpoint answers 404 for it. */
  private async listTree(repo: string, rev: string): Promise<HubFile[] | undefined> {
    const files: HubFile[] = [];
    let next: string | undefined = `${this.config.endpoint}/api/models/${repo}/tree/${encodeURIComponent(rev)}?recursive=true`;
    while (next) {
      let page: { data: TreeEntry[]; headers: Record<string, unknown> };
      try {
        page = await this.fetchJson<TreeEntry[]>(next);
      } catch (err) {
        if (err instanceof HttpStatusError && err.status === 404 && files.length === 0) return undefined;
        throw hubError(networkError(err, next), repo, !!this.config.token);
      }
      for (const e of page.data) {
        if (e.type !== 'file') continue;
        files.push({ path: e.path, size: e.lfs?.size ?? e.size, ...(e.lfs?.oid ? { sha256: e.lfs.oid } : {}), ...(e.oid ? { oid: e.oid } : {}) });
      }
      next = nextLink(page.headers.link);
    }
    return files;
  }

  private async getJson<T>(url: string, repo: string): Promise<T> {
    try {
      return (await this.fetchJson<T>(url)).data;
    } catch (err) {
      throw hubError(networkError(err, url), repo, !!this.config.token);
    }
  }

  /** GET JSON with the retry policy; failures come back as they are (HttpStatusError, network errors). */
  private async fetchJson<T>(url: string): Promise<{ data: T; headers: Record<string, unknown> }> {
    return withRetries(() => httpJson<T>(url, this.requestOptions()), {
      retries: this.config.retries,
      backoffMs: this.config.backoffMs,
      signal: this.signal,
      onRetry: (err, delay, attempt) =>
        this.onNotice?.(`${describeError(err)}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt}/${this.config.retries})`),
    });
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

/** A relative path inside a repository: no empty, `.` or `..` parts, no leading `/`, no backslash. */
function safeRepoPath(p: unknown): boolean {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function badListing(repo: string, what: string): UserError {
  return new UserError(`the hub's listing of ${repo} has an invalid ${what}; refusing to download from it`, 'ERR_USER_HUB');
}
