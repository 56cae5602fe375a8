/**
 * Where a pipeline's files come from: a local folder in the Optimum/diffusers ONNX layout, or a
 * Hugging Face Hub repository downloaded on demand into a cache folder
 * (`<cacheDir>/<owner>--<name>/<revision>/<path>`, written atomically: temp file + rename).
 *
 * Hub URLs are `https://huggingface.co/<id>/resolve/<revision>/<path>` (the endpoint and token
 * come from options or `HF_ENDPOINT` / `HF_TOKEN`). Offline, a failed download is an
 * `SD_HUB_UNAVAILABLE` error naming the URL; files already cached are used without network.
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline as streamPipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ModelFileNotFoundError, SdError } from './errors.js';

/** How to reach the Hugging Face Hub. */
export interface HubOptions {
  /** Cache folder for downloads (default: `$HF_HOME/vlm-grpo-sd` or `~/.cache/huggingface/vlm-grpo-sd`). */
  cacheDir?: string;
  /** Branch, tag or commit (default: `'main'`). */
  revision?: string;
  /** Access token for gated/private repositories (default: `HF_TOKEN` env). */
  token?: string;
  /** Hub endpoint (default: `HF_ENDPOINT` env or `https://huggingface.co`). */
  endpoint?: string;
  /** Never download; use the cache only (default: false). */
  localFilesOnly?: boolean;
  /** fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
}

const REPO_ID = /^[\w\-.]+\/[\w\-.]{1,96}$/;

/** A model folder, local or backed by a Hub repository. */
export class ModelRepository {
  /** The id or path it was opened with. */
  readonly source: string;
  /** Local folder holding (or caching) the files. */
  readonly root: string;
  /** Hub repository id, when the files come from the Hub. */
  readonly repoId: string | undefined;
  private readonly hub: HubOptions;

  private constructor(source: string, root: string, repoId: string | undefined, hub: HubOptions) {
    this.source = source;
    this.root = root;
    this.repoId = repoId;
    this.hub = hub;
  }

  /**
   * Open a local folder (absolute, `./relative`, or any existing path) or a Hub id (`owner/name`).
   * A path-like source that does not exist is SD_MODEL_FILE_NOT_FOUND.
   */
  static open(idOrPath: string, hub: HubOptions = {}): ModelRepository {
    if (typeof idOrPath !== 'string' || idOrPath.trim() === '') {
      throw new SdError('SD_INVALID_ARGUMENT', 'fromPretrained: expected a model folder path or a Hugging Face id');
    }
    const looksLikePath = isAbsolute(idOrPath) || idOrPath.startsWith('.') || existsSync(idOrPath);
    if (looksLikePath) {
      const root = resolve(idOrPath);
      if (!existsSync(root) || !statSync(root).isDirectory()) {
        throw new ModelFileNotFoundError(root, 'model folder');
      }
      return new ModelRepository(idOrPath, root, undefined, hub);
    }
    if (!REPO_ID.test(idOrPath)) {
      throw new SdError(
        'SD_INVALID_ARGUMENT',
        `"${idOrPath}" is neither an existing folder nor a Hugging Face id of the form owner/name`,
      );
    }
    const base = hub.cacheDir ?? join(process.env['HF_HOME'] ?? join(homedir(), '.cache', 'huggingface'), 'vlm-grpo-sd');
    const root = join(base, idOrPath.replace('/', '--'), hub.revision ?? 'main');
    return new ModelRepository(idOrPath, root, idOrPath, hub);
  }

  /** URL of a repository file on the Hub. */
  url(path: string): string {
    const endpoint = (this.hub.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/$/, '');
    return `${endpoint}/${this.repoId}/resolve/${encodeURIComponent(this.hub.revision ?? 'main')}/${path}`;
  }

  /**
   * Local path of a file, downloading it from the Hub if needed. Returns undefined for a missing
   * optional file; throws SD_MODEL_FILE_NOT_FOUND (naming it) for a missing required one.
   */
  async file(path: string, what: string, required: true): Promise<string>;
  async file(path: string, what: string, required: false): Promise<string | undefined>;
  async file(path: string, what: string, required: boolean): Promise<string | undefined> {
    const local = join(this.root, path);
    if (existsSync(local)) return local;
    if (!this.repoId) {
      if (required) throw new ModelFileNotFoundError(local, what);
      return undefined;
    }
    const missingMarker = `${local}.missing`;
    if (existsSync(missingMarker)) {
      if (required) throw new ModelFileNotFoundError(this.url(path), what);
      return undefined;
    }
    if (this.hub.localFilesOnly) {
      if (required) throw new ModelFileNotFoundError(local, `${what} (localFilesOnly: not in the cache)`);
      return undefined;
    }
    const ok = await this.download(path, local);
    if (!ok) {
      await mkdir(dirname(local), { recursive: true });
      await writeAtomic(missingMarker, Buffer.from(''));
      if (required) throw new ModelFileNotFoundError(this.url(path), what);
      return undefined;
    }
    return local;
  }

  /** Parsed JSON of a file (required or optional). */
  async json(path: string, what: string, required: true): Promise<Record<string, unknown>>;
  async json(path: string, what: string, required: false): Promise<Record<string, unknown> | undefined>;
  async json(path: string, what: string, required: boolean): Promise<Record<string, unknown> | undefined> {
    const p = required ? await this.file(path, what, true) : await this.file(path, what, false);
    if (!p) return undefined;
    try {
      const v = JSON.parse(await readFile(p, 'utf8')) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
      return v as Record<string, unknown>;
    } catch (cause) {
      throw new SdError('SD_INVALID_MODEL', `${p}: invalid JSON (${(cause as Error).message})`, { cause });
    }
  }

  /** Whether a folder exists locally or (for a Hub repository) its marker file can be fetched. */
  async hasComponent(folder: string, probeFile = 'model.onnx'): Promise<boolean> {
    if (!this.repoId) return existsSync(join(this.root, folder));
    return (await this.file(`${folder}/${probeFile}`, folder, false)) !== undefined;
  }

  private async download(path: string, dest: string): Promise<boolean> {
    const url = this.url(path);
    const fetchFn = this.hub.fetch ?? globalThis.fetch;
    const token = this.hub.token ?? process.env['HF_TOKEN'];
    let res: Response;
    try {
      res = await fetchFn(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, redirect: 'follow' });
    } catch (cause) {
      throw new SdError(
        'SD_HUB_UNAVAILABLE',
        `could not download ${url}: ${(cause as Error).message ?? String(cause)} (offline? pass a local model folder, or set localFilesOnly with a filled cache)`,
        { cause },
      );
    }
    if (res.status === 404) return false;
    if (!res.ok || !res.body) {
      throw new SdError('SD_HUB_UNAVAILABLE', `could not download ${url}: HTTP ${res.status} ${res.statusText}`);
    }
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.${Date.now()}.part`;
    try {
      await streamPipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(tmp));
      await rename(tmp, dest);
    } catch (cause) {
      await rm(tmp, { force: true });
      throw new SdError('SD_HUB_UNAVAILABLE', `download of ${url} failed: ${(cause as Error).message}`, { cause });
    }
    return true;
  }
}

async function writeAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
