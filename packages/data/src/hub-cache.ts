/**
 * One place for "where do a model's files come from", shared by @vlm-grpo/vlm, @vlm-grpo/sd and
 * @vlm-grpo/clip-reward, and laid out like the Hugging Face tools (huggingface_hub, transformers,
 * diffusers) so a model downloaded by either is found by the other:
 *
 * - the cache root is `cacheDir`, else `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 *   `~/.cache/huggingface/hub`;
 * - a repository `org/name` lives in `<root>/models--org--name/`, its files in
 *   `snapshots/<commit>/<path>`, the commit a branch or tag points to in `refs/<revision>`, and a
 *   file the hub answered 404 for in `.no_exist/<commit>/<path>` (as huggingface_hub records it);
 * - `HF_HUB_OFFLINE=1` (or `localFilesOnly`) never contacts the hub: cached files only;
 * - `HF_ENDPOINT` and `HF_TOKEN` are honoured; downloads stream to a temp file and are renamed into
 *   place, so a crash never leaves a partial file under its real name.
 *
 * Departure from huggingface_hub: files are written straight into the snapshot folder (no
 * content-addressed `blobs/` with symlinks), and a cached revision is not re-checked against the
 * hub (huggingface_hub sends a HEAD request per file when online); pass a commit as `revision` to
 * pin one. Files written by huggingface_hub (symlinks into `blobs/`) are read as they are.
 *
 * An existing local folder always wins over a hub id: `resolveLocalModelDir('org/name')` returns
 * the folder when `./org/name` exists. Relative folders resolve from the working directory.
 */
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

import { DataError } from './errors.js';
import { checkModelFileName, safeModelFilePath } from './model-file-paths.js';

/** How to reach the Hugging Face hub and where its files are cached. */
export interface HubCacheOptions {
  /** Cache root (default: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Branch, tag or commit (default: `main`). */
  revision?: string;
  /** Hub endpoint (default: `$HF_ENDPOINT`, else `https://huggingface.co`). */
  endpoint?: string;
  /** Access token for gated or private repositories (default: `$HF_TOKEN`). */
  token?: string;
  /** Never contact the hub; cached files only (default: false; `HF_HUB_OFFLINE=1` forces it). */
  localFilesOnly?: boolean;
  /** `fetch` implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Environment read for the `HF_*` variables (default: `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The cache root for `options` (see {@link HubCacheOptions.cacheDir}). */
export function hubCacheDir(options: Pick<HubCacheOptions, 'cacheDir' | 'env'> = {}): string {
  const env = options.env ?? process.env;
  if (options.cacheDir) return resolve(options.cacheDir);
  if (env['HF_HUB_CACHE']) return resolve(env['HF_HUB_CACHE']);
  return join(env['HF_HOME'] ? resolve(env['HF_HOME']) : join(homedir(), '.cache', 'huggingface'), 'hub');
}

/** True when `HF_HUB_OFFLINE` is set to a true value (`1`, `true`, `yes`, `on`), as huggingface_hub reads it. */
export function isHubOffline(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env['HF_HUB_OFFLINE'] ?? '').trim().toLowerCase());
}

/** A Hugging Face repository id: `name` or `org/name` (letters, digits, `-`, `_`, `.`; no `--` or `..`). */
export function isHubRepoId(value: string): boolean {
  return /^(?:[\w.-]{1,96}\/)?[\w.-]{1,96}$/u.test(value) && !value.includes('..') && !value.includes('--') && !value.startsWith('.');
}

/**
 * The absolute folder when `idOrPath` names an existing directory (relative paths resolve from
 * `cwd`), else undefined. A local folder always wins over a hub id of the same spelling.
 */
export async function resolveLocalModelDir(idOrPath: string, cwd: string = process.cwd()): Promise<string | undefined> {
  const candidate = resolve(cwd, idOrPath.startsWith('~/') ? join(homedir(), idOrPath.slice(2)) : idOrPath);
  try {
    return (await stat(candidate)).isDirectory() ? candidate : undefined;
  } catch {
    return undefined;
  }
}

const exists = async (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
const COMMIT = /^[0-9a-f]{40}$/u;

/** A hub repository in the shared cache: its files, downloaded on first use. */
export class HubRepository {
  /** The repository id (`org/name`). */
  readonly repoId: string;
  /** Branch, tag or commit requested. */
  readonly revision: string;
  /** `<cache root>/models--org--name`: every file of the repository stays inside it. */
  readonly repoDir: string;
  /** True when the hub is never contacted (`localFilesOnly` or `HF_HUB_OFFLINE`). */
  readonly offline: boolean;
  private commit: string | undefined;
  private readonly options: HubCacheOptions;

  private constructor(repoId: string, options: HubCacheOptions) {
    this.repoId = repoId;
    this.revision = options.revision ?? 'main';
    this.repoDir = join(hubCacheDir(options), `models--${repoId.replace('/', '--')}`);
    this.offline = options.localFilesOnly === true || isHubOffline(options.env ?? process.env);
    this.options = options;
    if (COMMIT.test(this.revision)) this.commit = this.revision;
  }

  /**
   * Open `repoId` in the cache (nothing is downloaded yet; a cached `refs/<revision>` is read).
   * @throws DataError `DATA_INVALID_ARGUMENT` when `repoId` is not a hub id.
   */
  static open(repoId: string, options: HubCacheOptions = {}): HubRepository {
    if (!isHubRepoId(repoId)) {
      throw new DataError('DATA_INVALID_ARGUMENT', `"${repoId}" is neither an existing folder nor a Hugging Face repository id (org/name)`);
    }
    checkModelFileName(options.revision ?? 'main', `revision of ${repoId}`);
    const repository = new HubRepository(repoId, options);
    if (repository.commit === undefined) {
      let ref: string | undefined;
      try {
        ref = readFileSync(join(repository.repoDir, 'refs', repository.revision), 'utf8').trim();
      } catch {
        ref = undefined;
      }
      if (ref !== undefined && COMMIT.test(ref)) repository.commit = ref;
      // A mirror that sent no commit header left the files under the revision's own name.
      else if (existsSync(join(repository.repoDir, 'snapshots', repository.revision))) repository.commit = repository.revision;
    }
    return repository;
  }

  /** The snapshot folder of the resolved commit (undefined until a file was fetched or a ref cached). */
  get snapshotDir(): string | undefined {
    return this.commit === undefined ? undefined : join(this.repoDir, 'snapshots', this.commit);
  }

  /** Hub URL of a repository file. */
  url(path: string): string {
    const env = this.options.env ?? process.env;
    const endpoint = (this.options.endpoint ?? env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/u, '');
    return `${endpoint}/${this.repoId}/resolve/${encodeURIComponent(this.revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * Local path of a repository file, downloading it when it is not cached. `path` is checked with
   * the model-file rules (no `..`, not absolute, real path inside the repository folder).
   * @returns the path, or undefined when the file does not exist (or is not cached while offline).
   * @throws DataError `DATA_UNSAFE_PATH` for an escaping name, `DATA_HUB_UNAVAILABLE` when a download fails.
   */
  async file(path: string): Promise<string | undefined> {
    const clean = checkModelFileName(path, `${this.repoId}`);
    if (this.commit !== undefined) {
      const cached = await safeModelFilePath(this.snapshotDir!, clean, this.repoId, this.repoDir);
      if (await exists(cached)) return cached;
      if (await exists(join(this.repoDir, '.no_exist', this.commit, clean))) return undefined;
    }
    if (this.offline) return undefined;
    return this.download(clean);
  }

  /**
   * Like {@link file}, but a missing file is an error naming the URL or cache path and what is needed.
   * @throws DataError `DATA_HUB_FILE_NOT_FOUND`.
   */
  async requireFile(path: string, what = path): Promise<string> {
    const found = await this.file(path);
    if (found !== undefined) return found;
    const where = this.offline
      ? `not in the cache ${this.snapshotDir ?? this.repoDir} and the hub is off (${isHubOffline(this.options.env ?? process.env) ? 'HF_HUB_OFFLINE' : 'localFilesOnly'})`
      : `${this.url(path)} does not exist`;
    throw new DataError('DATA_HUB_FILE_NOT_FOUND', `${this.repoId}: ${what} (${path}) is missing: ${where}`);
  }

  /**
   * Whether the repository has `path`, without downloading it (cached, else a HEAD request; false
   * while offline for a file not in the cache).
   */
  async has(path: string): Promise<boolean> {
    const clean = checkModelFileName(path, `${this.repoId}`);
    if (this.commit !== undefined && (await exists(join(this.snapshotDir!, clean)))) return true;
    if (this.offline) return false;
    const env = this.options.env ?? process.env;
    const token = this.options.token ?? env['HF_TOKEN'];
    try {
      const response = await (this.options.fetch ?? globalThis.fetch)(this.url(clean), { method: 'HEAD', headers: token ? { authorization: `Bearer ${token}` } : {}, redirect: 'manual' });
      return response.status < 400;
    } catch (cause) {
      throw new DataError('DATA_HUB_UNAVAILABLE', `could not reach ${this.url(clean)}: ${(cause as Error).message}`, { cause });
    }
  }

  private async download(path: string): Promise<string | undefined> {
    const url = this.url(path);
    const env = this.options.env ?? process.env;
    const token = this.options.token ?? env['HF_TOKEN'];
    const fetchFn = this.options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      response = await fetchFn(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, redirect: 'follow' });
    } catch (cause) {
      throw new DataError(
        'DATA_HUB_UNAVAILABLE',
        `could not download ${url}: ${(cause as Error).message ?? String(cause)} (offline? pass a local model folder, or set HF_HUB_OFFLINE=1 with a filled cache ${this.repoDir})`,
        { cause },
      );
    }
    const headerCommit = response.headers.get('x-repo-commit') ?? undefined;
    if (headerCommit !== undefined && COMMIT.test(headerCommit) && this.commit === undefined) this.commit = headerCommit;
    if (response.status === 404) {
      await response.body?.cancel();
      if (this.commit !== undefined) {
        const marker = join(this.repoDir, '.no_exist', this.commit, path);
        await mkdir(dirname(marker), { recursive: true });
        await writeFile(marker, '');
      }
      return undefined;
    }
    if (!response.ok || !response.body) {
      throw new DataError('DATA_HUB_UNAVAILABLE', `could not download ${url}: HTTP ${response.status} ${response.statusText}`);
    }
    // Without a commit header (a mirror that sends none), the revision name stands in for the commit.
    this.commit ??= this.revision;
    if (this.commit !== this.revision) {
      const ref = join(this.repoDir, 'refs', this.revision);
      await mkdir(dirname(ref), { recursive: true });
      const temporary = `${ref}.${process.pid}.tmp`;
      await writeFile(temporary, this.commit);
      await rename(temporary, ref);
    }
    const target = await safeModelFilePath(this.snapshotDir!, path, this.repoId, this.repoDir);
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.${Date.now()}.incomplete`;
    try {
      await pipeline(Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(temporary));
      await rename(temporary, target);
    } catch (cause) {
      await rm(temporary, { force: true });
      throw new DataError('DATA_HUB_UNAVAILABLE', `download of ${url} failed: ${(cause as Error).message}`, { cause });
    }
    return target;
  }
}
