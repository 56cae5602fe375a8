/**
 * Where a pipeline's files come from: a local folder in the Optimum/diffusers ONNX layout, or a
 * Hugging Face Hub repository downloaded on demand into the hub cache shared with the Hugging Face
 * tools (`@vlm-grpo/data`'s `HubRepository`: `$HF_HUB_CACHE` or `$HF_HOME/hub`,
 * `models--org--name/snapshots/<commit>/`, `HF_HUB_OFFLINE`, `HF_ENDPOINT`, `HF_TOKEN`; downloads
 * written atomically).
 *
 * An existing folder always wins over a hub id; relative folders resolve from the working
 * directory. Every file name a model names itself (the component keys of `model_index.json`, the
 * external-data `location`s inside an ONNX file) is checked: one that escapes the model folder
 * (`..`, absolute, a symlink out) is `SD_UNSAFE_PATH`, on download and on local load.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DataError, HubRepository, checkModelFileName, isHubRepoId, onnxExternalDataLocations, safeModelFilePath } from '@vlm-grpo/data';
import { ModelFileNotFoundError, SdError } from './errors.js';

/** How to reach the Hugging Face Hub. */
export interface HubOptions {
  /** Hub cache root (default: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Branch, tag or commit (default: `'main'`). */
  revision?: string;
  /** Access token for gated/private repositories (default: `HF_TOKEN` env). */
  token?: string;
  /** Hub endpoint (default: `HF_ENDPOINT` env or `https://huggingface.co`). */
  endpoint?: string;
  /** Never download; use the cache only (default: false; `HF_HUB_OFFLINE=1` forces it). */
  localFilesOnly?: boolean;
  /** fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
}

/** Rethrow a shared-cache error as this package's error. */
function fromDataError(error: unknown): never {
  if (DataError.isInstance(error)) {
    const code = error.code === 'DATA_UNSAFE_PATH' ? 'SD_UNSAFE_PATH' : error.code === 'DATA_INVALID_ARGUMENT' ? 'SD_INVALID_ARGUMENT' : 'SD_HUB_UNAVAILABLE';
    throw new SdError(code, error.message, { cause: error });
  }
  throw error;
}

/** A model folder, local or backed by a Hub repository. */
export class ModelRepository {
  /** The id or path it was opened with. */
  readonly source: string;
  /** Hub repository id, when the files come from the Hub. */
  readonly repoId: string | undefined;
  private readonly local: string | undefined;
  private readonly hub: HubRepository | undefined;
  private readonly checkedOnnx = new Set<string>();

  private constructor(source: string, local: string | undefined, hub: HubRepository | undefined) {
    this.source = source;
    this.local = local;
    this.hub = hub;
    this.repoId = hub?.repoId;
  }

  /**
   * Open a local folder (absolute, relative to the working directory, or any existing path) or a
   * Hub id (`owner/name`). A path-like source that does not exist is SD_MODEL_FILE_NOT_FOUND.
   */
  static open(idOrPath: string, hub: HubOptions = {}): ModelRepository {
    if (typeof idOrPath !== 'string' || idOrPath.trim() === '') {
      throw new SdError('SD_INVALID_ARGUMENT', 'fromPretrained: expected a model folder path or a Hugging Face id');
    }
    const absolute = resolve(idOrPath);
    if (existsSync(absolute) || isAbsolute(idOrPath) || idOrPath.startsWith('.')) {
      if (!existsSync(absolute) || !statSync(absolute).isDirectory()) throw new ModelFileNotFoundError(absolute, 'model folder');
      return new ModelRepository(idOrPath, absolute, undefined);
    }
    if (!isHubRepoId(idOrPath) || !idOrPath.includes('/')) {
      throw new SdError('SD_INVALID_ARGUMENT', `"${idOrPath}" is neither an existing folder (from ${process.cwd()}) nor a Hugging Face id of the form owner/name`);
    }
    try {
      return new ModelRepository(
        idOrPath,
        undefined,
        HubRepository.open(idOrPath, {
          ...(hub.cacheDir === undefined ? {} : { cacheDir: hub.cacheDir }),
          ...(hub.revision === undefined ? {} : { revision: hub.revision }),
          ...(hub.token === undefined ? {} : { token: hub.token }),
          ...(hub.endpoint === undefined ? {} : { endpoint: hub.endpoint }),
          ...(hub.localFilesOnly === undefined ? {} : { localFilesOnly: hub.localFilesOnly }),
          ...(hub.fetch === undefined ? {} : { fetch: hub.fetch }),
        }),
      );
    } catch (error) {
      return fromDataError(error);
    }
  }

  /** Local folder holding the files (for a Hub repository: its snapshot folder once known). */
  get root(): string {
    return this.local ?? this.hub!.snapshotDir ?? join(this.hub!.repoDir, 'snapshots', this.hub!.revision);
  }

  /** The folder every file must stay inside (the model folder, or the cache's `models--org--name`). */
  private get allowedRoot(): string {
    return this.local ?? this.hub!.repoDir;
  }

  /** URL of a repository file on the Hub. */
  url(path: string): string {
    return this.hub ? this.hub.url(path) : join(this.root, path);
  }

  /**
   * Local path of a file, downloading it from the Hub if needed. Returns undefined for a missing
   * optional file; throws SD_MODEL_FILE_NOT_FOUND (naming it) for a missing required one and
   * SD_UNSAFE_PATH for a name that leaves the model folder. For an ONNX file, the external-data
   * files it names are checked (and downloaded) too.
   */
  async file(path: string, what: string, required: true): Promise<string>;
  async file(path: string, what: string, required: false): Promise<string | undefined>;
  async file(path: string, what: string, required: boolean): Promise<string | undefined> {
    let found: string | undefined;
    try {
      if (this.hub) {
        found = await this.hub.file(path);
      } else {
        const local = await safeModelFilePath(this.local!, path, `${this.source} (${what})`);
        found = existsSync(local) ? local : undefined;
      }
    } catch (error) {
      return fromDataError(error);
    }
    if (found === undefined) {
      if (!required) return undefined;
      if (!this.hub) throw new ModelFileNotFoundError(join(this.root, path), what);
      throw new ModelFileNotFoundError(this.hub.offline ? join(this.root, path) : this.url(path), this.hub.offline ? `${what} (localFilesOnly or HF_HUB_OFFLINE: not in the cache)` : what);
    }
    if (path.endsWith('.onnx')) await this.externalData(path, found);
    return found;
  }

  /** Check (and fetch) the external-data files an ONNX model names. */
  private async externalData(path: string, modelFile: string): Promise<void> {
    if (this.checkedOnnx.has(path)) return;
    try {
      const folder = dirname(path) === '.' ? '' : `${dirname(path)}/`;
      for (const location of await onnxExternalDataLocations(modelFile)) {
        const name = `${folder}${checkModelFileName(location, `${modelFile} (external data)`)}`;
        if (this.hub) await this.hub.requireFile(name, `external data of ${path}`);
        const local = await safeModelFilePath(dirname(modelFile), location, `${modelFile} (external data)`, this.allowedRoot);
        if (!existsSync(local)) throw new ModelFileNotFoundError(local, `external data of ${path}`);
      }
    } catch (error) {
      return fromDataError(error);
    }
    this.checkedOnnx.add(path);
  }

  /** Parsed JSON of a file (required or optional). `model_index.json`'s component names are checked. */
  async json(path: string, what: string, required: true): Promise<Record<string, unknown>>;
  async json(path: string, what: string, required: false): Promise<Record<string, unknown> | undefined>;
  async json(path: string, what: string, required: boolean): Promise<Record<string, unknown> | undefined> {
    const p = required ? await this.file(path, what, true) : await this.file(path, what, false);
    if (!p) return undefined;
    let value: Record<string, unknown>;
    try {
      const v = JSON.parse(await readFile(p, 'utf8')) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
      value = v as Record<string, unknown>;
    } catch (cause) {
      throw new SdError('SD_INVALID_MODEL', `${p}: invalid JSON (${(cause as Error).message})`, { cause });
    }
    if (path === 'model_index.json') {
      // Keys whose value is [library, class] name component folders.
      for (const [key, entry] of Object.entries(value)) {
        if (!Array.isArray(entry)) continue;
        try {
          checkModelFileName(key, `${p} (component folder)`);
        } catch (error) {
          fromDataError(error);
        }
      }
    }
    return value;
  }

  /** Whether a folder exists locally or (for a Hub repository) its marker file can be fetched. */
  async hasComponent(folder: string, probeFile = 'model.onnx'): Promise<boolean> {
    if (!this.hub) {
      try {
        return existsSync(await safeModelFilePath(this.local!, folder, `${this.source} (component folder)`));
      } catch (error) {
        return fromDataError(error);
      }
    }
    return (await this.file(`${folder}/${probeFile}`, folder, false)) !== undefined;
  }
}
