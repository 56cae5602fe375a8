/**
 * Resolve a model reference to a local folder, through the hub cache shared with the Hugging Face
 * tools (`@vlm-grpo/data`'s `HubRepository`: `$HF_HUB_CACHE` or `$HF_HOME/hub`,
 * `models--org--name/snapshots/<commit>/`, `HF_HUB_OFFLINE`, `HF_ENDPOINT`, `HF_TOKEN`):
 * - an existing folder always wins, relative paths resolving from the working directory; the
 *   returned path is absolute;
 * - a repository id (`org/name`) is fetched file by file (config, `model.safetensors` or the shards
 *   its index names, tokenizer files), once. Shard names are checked: one that escapes the model
 *   folder (`..`, absolute, a symlink out) is refused on download and on local load.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { DataError, HubRepository, isHubRepoId, resolveLocalModelDir, safeModelFilePath } from '@vlm-grpo/data';
import { VlmError } from './errors.js';

/** Options for resolving and downloading a model. */
export interface HubOptions {
  /** Git revision: branch, tag or commit (default: `main`). */
  revision?: string;
  /** Hub cache root (default: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Hub endpoint (default: `$HF_ENDPOINT` or `https://huggingface.co`). */
  endpoint?: string;
  /** Access token (default: `$HF_TOKEN`). */
  token?: string;
  /** Never download; a hub id must already be in the cache (default: false; `HF_HUB_OFFLINE=1` forces it). */
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

/** True when a file exists. */
export async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The checked path of a shard named by `model.safetensors.index.json` in `dir`. */
export async function shardPath(dir: string, shard: unknown): Promise<string> {
  try {
    return await safeModelFilePath(dir, shard, `${dir}/model.safetensors.index.json`);
  } catch (error) {
    if (DataError.isInstance(error)) throw new VlmError('VLM_UNSAFE_PATH', error.message, { cause: error });
    throw error;
  }
}

function fromDataError(error: unknown): never {
  if (DataError.isInstance(error)) {
    const code = error.code === 'DATA_UNSAFE_PATH' ? 'VLM_UNSAFE_PATH' : error.code === 'DATA_INVALID_ARGUMENT' ? 'VLM_FILE_NOT_FOUND' : 'VLM_DOWNLOAD_FAILED';
    throw new VlmError(code, error.message, { cause: error });
  }
  throw error;
}

/** The command that converts a PyTorch-only repository into a folder this package loads. */
export function conversionCommand(repoId: string): string {
  const folder = `models/${repoId.split('/').at(-1)}`;
  return `python -c "from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; r='${repoId}'; M.from_pretrained(r).save_pretrained('${folder}'); T.from_pretrained(r).save_pretrained('${folder}')"`;
}

/**
 * A local folder holding the model: `idOrPath` itself (made absolute) when it is a directory, else
 * the cached download of the Hugging Face repository `idOrPath`. Throws `VLM_FILE_NOT_FOUND` for a
 * path that does not exist and is not a repository id, `VLM_DOWNLOAD_FAILED` when the download
 * fails or the repository has no safetensors weights (naming the command that converts them),
 * `VLM_UNSAFE_PATH` for an index naming a file outside the model folder.
 */
export async function resolveModelDir(idOrPath: string, options: HubOptions = {}): Promise<string> {
  const local = await resolveLocalModelDir(idOrPath);
  if (local !== undefined) return local;
  if (!isHubRepoId(idOrPath) || isAbsolute(idOrPath) || idOrPath.startsWith('.')) {
    throw new VlmError('VLM_FILE_NOT_FOUND', `${idOrPath}: not a local model folder (from ${process.cwd()}) and not a Hugging Face repository id (org/name)`);
  }
  try {
    const repo = HubRepository.open(idOrPath, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.localFilesOnly === undefined ? {} : { localFilesOnly: options.localFilesOnly }),
    });
    const where = `${idOrPath}@${repo.revision}`;
    const config = await repo.file('config.json');
    if (config === undefined) {
      throw new VlmError(
        repo.offline ? 'VLM_FILE_NOT_FOUND' : 'VLM_DOWNLOAD_FAILED',
        repo.offline
          ? `${where}: not a local folder, and not in the hub cache ${repo.repoDir} (localFilesOnly or HF_HUB_OFFLINE is set: the hub is not contacted)`
          : `${where}: no config.json at ${repo.url('config.json')} (404: not a model repository, or private without HF_TOKEN)`,
      );
    }
    if ((await repo.file('model.safetensors')) === undefined) {
      const index = await repo.file('model.safetensors.index.json');
      if (index === undefined) {
        const pytorch = !repo.offline && ((await repo.has('pytorch_model.bin')) || (await repo.has('pytorch_model.bin.index.json')));
        throw new VlmError(
          'VLM_DOWNLOAD_FAILED',
          `${where} has no safetensors weights (model.safetensors or model.safetensors.index.json)${pytorch ? ', only PyTorch pickles (pytorch_model.bin), which this package does not load' : repo.offline ? ' in the hub cache' : ''}. ` +
            `Convert it once with: ${conversionCommand(idOrPath)} and pass the folder (--model_settings.vlm_model models/${idOrPath.split('/').at(-1)})` +
            (pytorch ? `, or a revision that has model.safetensors (the hub's conversion bot opens refs/pr/N branches)` : ''),
        );
      }
      const { readFile } = await import('node:fs/promises');
      let parsed: { weight_map?: Record<string, unknown> };
      try {
        parsed = JSON.parse(await readFile(index, 'utf8')) as typeof parsed;
      } catch (error) {
        throw new VlmError('VLM_SAFETENSORS_INVALID', `${index}: not valid JSON (${(error as Error).message})`, { cause: error });
      }
      for (const shard of new Set(Object.values(parsed.weight_map ?? {}))) {
        if (typeof shard !== 'string') throw new VlmError('VLM_SAFETENSORS_INVALID', `${index}: weight_map values must be shard file names, found ${JSON.stringify(shard)}`);
        // HubRepository.file refuses names that leave the repository folder, before any request.
        await repo.requireFile(shard, `weight shard named by model.safetensors.index.json`).catch((error: unknown) => {
          if (DataError.isInstance(error) && error.code === 'DATA_UNSAFE_PATH') {
            throw new VlmError('VLM_UNSAFE_PATH', `${where}: model.safetensors.index.json names ${JSON.stringify(shard)}, outside the model folder: ${error.message}`, { cause: error });
          }
          throw error;
        });
      }
    }
    for (const file of OPTIONAL_MODEL_FILES) await repo.file(file);
    // GPT-2's slow-tokenizer files stand in for a missing tokenizer.json (DialoGPT).
    if ((await repo.file('tokenizer.json')) === undefined) for (const file of ['vocab.json', 'merges.txt', 'added_tokens.json']) await repo.file(file);
    return repo.snapshotDir!;
  } catch (error) {
    return fromDataError(error);
  }
}
