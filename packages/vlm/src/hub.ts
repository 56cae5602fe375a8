/**
 * Resolve a model reference to a local folder: an existing directory is used as is; a Hugging Face
 * repository id (`org/name`) is downloaded file by file from `{endpoint}/{id}/resolve/{revision}/`
 * into a cache folder (default `$HF_HOME/vlm-grpo` or `~/.cache/huggingface/vlm-grpo`), once.
 * `HF_TOKEN` is sent as a bearer token when set; `HF_ENDPOINT` overrides the endpoint.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '@vlm-grpo/data';
import { VlmError } from './errors.js';

/** Options for resolving and downloading a model. */
export interface HubOptions {
  /** Git revision (default: `main`). */
  revision?: string;
  /** Cache folder for downloads (default: `$HF_HOME/vlm-grpo`, else `~/.cache/huggingface/vlm-grpo`). */
  cacheDir?: string;
  /** Hub endpoint (default: `$HF_ENDPOINT` or `https://huggingface.co`). */
  endpoint?: string;
  /** Access token (default: `$HF_TOKEN`). */
  token?: string;
  /** Never download; fail when the folder is not local (default: false). */
  localFilesOnly?: boolean;
}

/** Files fetched besides the weights when present in the repository. */
export const OPTIONAL_MODEL_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
] as const;

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** True when a file exists. */
export async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

const REPO_ID = /^[\w.-]+\/[\w.-]+$/u;

async function download(url: string, target: string, token: string | undefined, required: boolean): Promise<boolean> {
  if (await fileExists(target)) return true;
  let response: Response;
  try {
    response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (error) {
    throw new VlmError('VLM_DOWNLOAD_FAILED', `GET ${url} failed: ${(error as Error).message}`, { cause: error });
  }
  if (response.status === 404 && !required) return false;
  if (!response.ok) {
    throw new VlmError('VLM_DOWNLOAD_FAILED', `GET ${url} answered ${response.status} ${response.statusText}`);
  }
  await writeFileAtomic(target, new Uint8Array(await response.arrayBuffer()));
  return true;
}

/**
 * A local folder holding the model: `idOrPath` itself when it is a directory, else the cached
 * download of the Hugging Face repository `idOrPath`. Throws `VLM_FILE_NOT_FOUND` for a path that
 * does not exist and is not a repository id, `VLM_DOWNLOAD_FAILED` when the download fails.
 */
export async function resolveModelDir(idOrPath: string, options: HubOptions = {}): Promise<string> {
  if (await isDirectory(idOrPath)) return idOrPath;
  if (!REPO_ID.test(idOrPath) || options.localFilesOnly) {
    throw new VlmError(
      'VLM_FILE_NOT_FOUND',
      `${idOrPath}: not a local model folder${options.localFilesOnly ? ' (localFilesOnly is set)' : ' and not a Hugging Face repository id (org/name)'}`,
    );
  }
  const revision = options.revision ?? 'main';
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/u, '');
  const token = options.token ?? process.env.HF_TOKEN;
  const cacheRoot =
    options.cacheDir ?? join(process.env.HF_HOME ?? join(homedir(), '.cache', 'huggingface'), 'vlm-grpo');
  const dir = join(cacheRoot, `models--${idOrPath.replace('/', '--')}`, revision);
  await mkdir(dir, { recursive: true });
  const base = `${endpoint}/${idOrPath}/resolve/${encodeURIComponent(revision)}`;
  await download(`${base}/config.json`, join(dir, 'config.json'), token, true);
  const single = await download(`${base}/model.safetensors`, join(dir, 'model.safetensors'), token, false);
  if (!single) {
    const hasIndex = await download(
      `${base}/model.safetensors.index.json`,
      join(dir, 'model.safetensors.index.json'),
      token,
      false,
    );
    if (!hasIndex) {
      throw new VlmError('VLM_DOWNLOAD_FAILED', `${idOrPath}: neither model.safetensors nor model.safetensors.index.json exists at ${base}`);
    }
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      weight_map?: Record<string, string>;
    };
    for (const shard of new Set(Object.values(index.weight_map ?? {}))) {
      await download(`${base}/${shard}`, join(dir, shard), token, true);
    }
  }
  for (const file of OPTIONAL_MODEL_FILES) await download(`${base}/${file}`, join(dir, file), token, false);
  return dir;
}
