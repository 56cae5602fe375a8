/**
 * Loading and running CLIP ONNX models through @huggingface/transformers (onnxruntime-node).
 *
 * Layouts (transformers.js): `split` = `onnx/text_model{suffix}.onnx` (CLIPTextModelWithProjection:
 * input_ids [B, T] int64 (+ attention_mask) → text_embeds [B, D], not normalised) and
 * `onnx/vision_model{suffix}.onnx` (CLIPVisionModelWithProjection: pixel_values [B, 3, H, W] f32 →
 * image_embeds [B, D], not normalised); `combined` = `onnx/model{suffix}.onnx` (CLIPModel: all three
 * inputs → text_embeds, image_embeds, already L2-normalised, and logits). Embeddings returned here are
 * L2-normalised like Hugging Face `CLIPModel`'s `text_embeds`/`image_embeds`
 * (`x / ‖x‖`, see vector-math.ts). With the combined model, embedding only texts feeds one dummy
 * all-zero image, and embedding only images feeds one dummy text (BOS, EOS); the dummies' outputs
 * are dropped, so results equal a joint run.
 *
 * Tokenisation: the folder's `tokenizer.json`, padding to the longest text and truncating to
 * `model_max_length` (77 for CLIP) exactly as Hugging Face does (BOS + first 75 tokens + EOS);
 * CLIP pools at the EOS position under a causal mask, so padding never changes an embedding.
 *
 * Files: an existing folder always wins (relative paths resolve from the working directory); a
 * hub id is fetched into the hub cache shared with the Hugging Face tools (`@vlm-grpo/data`'s
 * `HubRepository`: `$HF_HUB_CACHE` or `$HF_HOME/hub`, `models--org--name/snapshots/<commit>/`,
 * `HF_HUB_OFFLINE`), only the files the chosen layout and dtype need, external-data names checked.
 * transformers.js then always reads an absolute local folder with `local_files_only` passed per
 * call: this module never changes transformers.js' global `env`. An original OpenAI id without ONNX
 * files (`openai/clip-vit-base-patch32`) loads its ONNX export (`Xenova/clip-vit-base-patch32`),
 * with a log line.
 */
import { createRequire } from 'node:module';
import type * as Hf from '@huggingface/transformers';
import type { PreTrainedModel, PreTrainedTokenizer, Tensor as HfTensor } from '@huggingface/transformers';
import { ONNX_DEVICE_REQUESTS, defaultOnnxHost, explainCudaFailure, firstLine, planOnnxDevices, selectDevice } from '@vlm-grpo/device';
import { ClipRewardError, ModelFileMissingError } from './errors.js';
import { parsePreprocessorConfig, type ClipPreprocessConfig } from './clip-preprocess.js';
import type { ResampleFlavour } from './resample.js';
import { readSafetensorsTensor } from './safetensors.js';
import { dot, l2Normalize } from './vector-math.js';

/**
 * Where the model runs. `auto` follows `@vlm-grpo/device`'s order: Linux x64 CUDA (when its
 * provider and libraries are installed) → WebGPU (hardware adapters only) → CPU; macOS WebGPU
 * (Metal) → Core ML → CPU; elsewhere WebGPU → CPU. It logs one line with the decision and one with
 * every reason. An explicit `webgpu` takes any adapter, software ones included.
 */
export type ClipDevice = 'cpu' | 'webgpu' | 'cuda' | 'coreml' | 'auto';

/** ONNX weight variants of transformers.js (file suffix: fp32 none, fp16 `_fp16`, q8 `_quantized`, …). */
export type ClipDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

/** Which ONNX files to use. */
export type ClipLayout = 'auto' | 'split' | 'combined';

/** Receives informational messages (device fallback, logit scale source). */
export type ClipLogger = (message: string) => void;

/** Options for loading a CLIP model. */
export interface ClipModelOptions {
  /** Device (default: `cpu`). */
  device?: ClipDevice;
  /** Weight variant (default: `fp32`). */
  dtype?: ClipDtype;
  /** Never download; a Hub id must already be in the cache (default: false; `HF_HUB_OFFLINE=1` forces it). Local folders never download. */
  localFilesOnly?: boolean;
  /** Hub cache root, shared with the Hugging Face tools (default: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Hub revision (branch, tag or commit) (default: `main`). */
  revision?: string;
  /** ONNX layout (default: `auto`: split text/vision models when present, else the combined model). */
  layout?: ClipLayout;
  /** Image preprocessing arithmetic (default: `torch`, as transformers ≥ 5's fast processor). */
  preprocessFlavour?: ResampleFlavour;
  /**
   * exp(logit_scale) used for logits (default: `logit_scale` from the folder's `model.safetensors`,
   * else measured from the combined model, else 100 as trained OpenAI CLIP).
   */
  logitScale?: number;
  /** onnxruntime session options passed through (e.g. `{ intraOpNumThreads: 2 }`) (default: none). */
  sessionOptions?: Record<string, unknown>;
  /** Where messages go (default: `console.warn` with a `[clip-reward]` prefix). */
  logger?: ClipLogger;
}

const DTYPE_SUFFIX: Readonly<Record<ClipDtype, string>> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

type Transformers = typeof Hf;
let transformersPromise: Promise<Transformers> | undefined;
function loadTransformers(): Promise<Transformers> {
  transformersPromise ??= import('@huggingface/transformers');
  return transformersPromise;
}

/** Tokenised texts. */
interface Tokenized {
  inputIds: TokenTensor;
  attentionMask: TokenTensor;
}

/**
 * A token tensor [B, T] (int64) as callers of `ClipModel#tokenize` read it. Structural on purpose:
 * transformers.js' own declarations do not compile under `moduleResolution: nodenext` without
 * `skipLibCheck`, so its types stay out of this package's public declarations.
 */
export interface TokenTensor {
  /** Shape [B, T]. */
  readonly dims: readonly number[];
  /** Nested arrays of bigint ids. */
  tolist(): unknown[];
  /** Release the tensor. */
  dispose(): void;
}

/** Embedding of one text with its token count. */
export interface TextEncoding {
  /** L2-normalised text embedding [D]. */
  embedding: Float32Array;
  /** Tokens including BOS/EOS before truncation. */
  tokenCount: number;
  /** True when the text had more than `maxTextTokens` tokens and was cut (as CLIP does). */
  truncated: boolean;
}

function defaultLogger(message: string): void {
  console.warn(`[clip-reward] ${message}`);
}

function isPathLike(id: string): boolean {
  return id.startsWith('/') || id.startsWith('.') || id.startsWith('~') || id.includes('\\') || /^[A-Za-z]:/.test(id) || id.split('/').length > 2;
}

/** OpenAI CLIP repositories (PyTorch weights only) and their ONNX exports in the transformers.js layout. */
export const CLIP_ONNX_EQUIVALENTS: Readonly<Record<string, string>> = {
  'openai/clip-vit-base-patch32': 'Xenova/clip-vit-base-patch32',
  'openai/clip-vit-base-patch16': 'Xenova/clip-vit-base-patch16',
  'openai/clip-vit-large-patch14': 'Xenova/clip-vit-large-patch14',
};

/** The command that exports a CLIP repository or folder to the ONNX layout this package loads. */
export function clipConversionCommand(id: string): string {
  return `optimum-cli export onnx --model ${id} --task zero-shot-image-classification models/${id.split('/').at(-1)}-onnx/onnx (then copy the tokenizer and preprocessor files next to onnx/)`;
}

/** Fetch what a CLIP layout needs from the hub cache; returns the snapshot folder. */
async function fetchHubModel(repoId: string, options: ClipModelOptions, suffix: string, layout: ClipLayout): Promise<string> {
  const { DataError, HubRepository, onnxExternalDataLocations, checkModelFileName } = await import('@vlm-grpo/data');
  try {
    const repo = HubRepository.open(repoId, {
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      ...(options.localFilesOnly === undefined ? {} : { localFilesOnly: options.localFilesOnly }),
    });
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json']) await repo.requireFile(file);
    await repo.file('special_tokens_map.json');
    const onnx = async (base: string): Promise<boolean> => {
      const path = await repo.file(`onnx/${base}${suffix}.onnx`);
      if (path === undefined) return false;
      for (const location of await onnxExternalDataLocations(path)) await repo.requireFile(`onnx/${checkModelFileName(location, `${repoId}/onnx/${base}${suffix}.onnx (external data)`)}`);
      return true;
    };
    const split = layout !== 'combined' && (await onnx('text_model')) && (await onnx('vision_model'));
    if (!split && (layout === 'split' || !(await onnx('model')))) {
      throw new ModelFileMissingError(
        repo.snapshotDir ?? repo.repoDir,
        layout === 'split' ? `onnx/text_model${suffix}.onnx` : `onnx/model${suffix}.onnx`,
        `${repoId} has no ONNX files for dtype ${suffix === '' ? 'fp32' : suffix.slice(1)} in the transformers.js layout (onnx/text_model, onnx/vision_model or onnx/model)${repo.offline ? ' in the hub cache (offline)' : ''}; convert it once with: ${clipConversionCommand(repoId)}`,
      );
    }
    return repo.snapshotDir!;
  } catch (error) {
    if (DataError.isInstance(error)) {
      throw new ClipRewardError(error.code === 'DATA_HUB_FILE_NOT_FOUND' ? 'CLIP_MODEL_FILE_MISSING' : 'CLIP_MODEL_LOAD_FAILED', error.message, { cause: error });
    }
    throw error;
  }
}

/** A loaded CLIP model: tokenizer, preprocessing settings and ONNX sessions. */
export class ClipModel {
  private disposed = false;

  private constructor(
    /** Model id or absolute folder. */
    readonly source: string,
    /** Device the sessions run on. */
    readonly device: Exclude<ClipDevice, 'auto'>,
    /** Weight variant. */
    readonly dtype: ClipDtype,
    /** Layout in use. */
    readonly layout: Exclude<ClipLayout, 'auto'>,
    /** Image preprocessing settings. */
    readonly preprocess: ClipPreprocessConfig,
    /** Maximum text length in tokens (77 for CLIP). */
    readonly maxTextTokens: number,
    /** exp(logit_scale) used for logits. */
    readonly logitScale: number,
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly models: { text?: PreTrainedModel; vision?: PreTrainedModel; combined?: PreTrainedModel },
    private readonly Tensor: Transformers['Tensor'],
  ) {}

  /** Load a CLIP model from a local folder or a Hugging Face Hub id. */
  static async load(modelIdOrPath: string, options: ClipModelOptions = {}): Promise<ClipModel> {
    const { existsSync, statSync } = await import('node:fs');
    const { readFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const logger = options.logger ?? defaultLogger;
    const dtype = options.dtype ?? 'fp32';
    if (!(dtype in DTYPE_SUFFIX)) {
      throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `dtype ${JSON.stringify(dtype)}: expected one of ${Object.keys(DTYPE_SUFFIX).join(', ')}`);
    }
    const suffix = DTYPE_SUFFIX[dtype];
    let layout: Exclude<ClipLayout, 'auto'> | undefined = options.layout === 'auto' ? undefined : options.layout;
    let preprocessJson: unknown;
    let logitScale = options.logitScale;

    // An existing folder wins over a hub id; relative paths resolve from the working directory.
    let source = path.resolve(modelIdOrPath);
    const exists = existsSync(source);
    if (!exists && isPathLike(modelIdOrPath)) {
      throw new ClipRewardError('CLIP_MODEL_FILE_MISSING', `model folder ${source} does not exist (or is not a folder)`);
    }
    let displaySource = source;
    if (!exists) {
      const equivalent = Object.hasOwn(CLIP_ONNX_EQUIVALENTS, modelIdOrPath) ? CLIP_ONNX_EQUIVALENTS[modelIdOrPath]! : undefined;
      if (equivalent !== undefined) logger(`${modelIdOrPath} has no ONNX files; using its ONNX export ${equivalent} (same weights, transformers.js layout)`);
      displaySource = equivalent ?? modelIdOrPath;
      source = await fetchHubModel(displaySource, options, suffix, options.layout ?? 'auto');
    }
    {
      if (!statSync(source).isDirectory()) {
        throw new ClipRewardError('CLIP_MODEL_FILE_MISSING', `model folder ${source} does not exist (or is not a folder)`);
      }
      for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json']) {
        if (!existsSync(path.join(source, file))) throw new ModelFileMissingError(source, file);
      }
      const has = (base: string): boolean => existsSync(path.join(source, 'onnx', `${base}${suffix}.onnx`));
      if (layout === undefined) layout = has('text_model') && has('vision_model') ? 'split' : has('model') ? 'combined' : undefined;
      if (layout === undefined) {
        const missing = has('text_model') ? 'vision_model' : 'text_model';
        throw new ModelFileMissingError(source, `onnx/${missing}${suffix}.onnx`, `needs onnx/model${suffix}.onnx or both onnx/text_model${suffix}.onnx and onnx/vision_model${suffix}.onnx for dtype ${dtype}`);
      }
      const needed = layout === 'split' ? ['text_model', 'vision_model'] : ['model'];
      for (const base of needed) if (!has(base)) throw new ModelFileMissingError(source, `onnx/${base}${suffix}.onnx`, `layout ${layout}, dtype ${dtype}`);
      // External data an ONNX file names must stay in the model folder (no `..`, absolute paths or symlinks out).
      const { DataError, checkOnnxExternalData } = await import('@vlm-grpo/data');
      for (const base of needed) {
        try {
          await checkOnnxExternalData(path.join(source, 'onnx', `${base}${suffix}.onnx`), exists ? source : path.dirname(path.dirname(source)));
        } catch (cause) {
          if (DataError.isInstance(cause)) throw new ClipRewardError('CLIP_INVALID_CONFIG', cause.message, { cause });
          throw cause;
        }
      }
      try {
        preprocessJson = JSON.parse(await readFile(path.join(source, 'preprocessor_config.json'), 'utf8'));
      } catch (cause) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `${path.join(source, 'preprocessor_config.json')}: not valid JSON`, { cause });
      }
      if (logitScale === undefined && existsSync(path.join(source, 'model.safetensors'))) {
        const t = await readSafetensorsTensor(path.join(source, 'model.safetensors'), 'logit_scale');
        if (t && t.data.length === 1) logitScale = Math.exp(t.data[0]!);
      }
    }

    // Always an absolute local folder, read with local_files_only per call (transformers.js' env untouched).
    const hubOptions = { local_files_only: true };

    const t = await loadTransformers();
    {
      const wrapLoad = (what: string, cause: unknown): ClipRewardError => {
        if (ClipRewardError.isInstance(cause)) return cause;
        const message = (cause as Error)?.message ?? String(cause);
        const m = /file was not found locally at "([^"]+)"/.exec(message);
        if (m) return new ModelFileMissingError(source, path.relative(source, m[1]!), message);
        return new ClipRewardError('CLIP_MODEL_LOAD_FAILED', `${source}: cannot load ${what}: ${message}`, { cause });
      };
      let tokenizer: PreTrainedTokenizer;
      try {
        tokenizer = await t.AutoTokenizer.from_pretrained(source, hubOptions);
      } catch (cause) {
        throw wrapLoad('the tokenizer', cause);
      }
      const preprocess = parsePreprocessorConfig(preprocessJson, `${source}/preprocessor_config.json`, options.preprocessFlavour ?? 'torch');

      const loadModels = async (device: Exclude<ClipDevice, 'auto'>, lay: Exclude<ClipLayout, 'auto'>) => {
        // On WebGPU the split towers' last_hidden_state ([B, 50, 768] for ViT-B/32: 9.8 MB per 64
        // images) stays in a GPU buffer that is freed unread: only the embeddings come back to the
        // host (ViT-B/32 image tower on an H100, 64 images: 79.5 → 67.7 ms per call; BENCHMARKS.md).
        const keepOnGpu = device === 'webgpu' && lay === 'split' && options.sessionOptions?.['preferredOutputLocation'] === undefined;
        const placed = keepOnGpu ? { ...options.sessionOptions, preferredOutputLocation: { last_hidden_state: 'gpu-buffer' } } : options.sessionOptions;
        // A CUDA attempt under auto is a probe: its failure is the decision line's reason, so ONNX
        // Runtime's own red error line is silenced (fatal only) unless the caller set a level.
        const quietProbe = device === 'cuda' && options.device === 'auto' && options.sessionOptions?.['logSeverityLevel'] === undefined;
        const sessionOptions = quietProbe ? { ...placed, logSeverityLevel: 4 } : placed;
        const modelOptions = {
          ...hubOptions,
          device,
          dtype,
          ...(sessionOptions ? { session_options: sessionOptions } : {}),
        };
        if (lay === 'combined') return { combined: await t.CLIPModel.from_pretrained(source, modelOptions) };
        const text = await t.CLIPTextModelWithProjection.from_pretrained(source, modelOptions);
        try {
          return { text, vision: await t.CLIPVisionModelWithProjection.from_pretrained(source, modelOptions) };
        } catch (error) {
          await text.dispose();
          throw error;
        }
      };
      const loadLayout = async (device: Exclude<ClipDevice, 'auto'>) => {
        if (layout) return { models: await loadModels(device, layout), lay: layout };
        try {
          return { models: await loadModels(device, 'split'), lay: 'split' as const };
        } catch (error) {
          if (!(error instanceof t.ModelFileNotFoundError) && !/not found|404/i.test(String((error as Error)?.message))) throw error;
          logger(`${source}: no split text/vision ONNX models (${(error as Error).message}); using onnx/model${suffix}.onnx`);
          return { models: await loadModels(device, 'combined'), lay: 'combined' as const };
        }
      };

      const requested = options.device ?? 'cpu';
      if (!(ONNX_DEVICE_REQUESTS as readonly string[]).includes(requested)) {
        throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `device ${JSON.stringify(requested)}: expected ${ONNX_DEVICE_REQUESTS.join(', ')}`);
      }
      // onnxruntime-node is transformers.js' dependency: its CUDA provider is looked up from there.
      const fromTransformers = (() => {
        try {
          return [createRequire(import.meta.url).resolve('@huggingface/transformers')];
        } catch {
          return [];
        }
      })();
      const candidates = await planOnnxDevices(requested, defaultOnnxHost({ resolveFrom: [...fromTransformers, import.meta.url] }));
      const isFileProblem = (cause: unknown) => cause instanceof t.ModelFileNotFoundError || ClipRewardError.isInstance(cause);
      let selected;
      try {
        selected = await selectDevice({
          what: 'clip',
          requested,
          candidates,
          attempt: async (candidate: Exclude<ClipDevice, 'auto'>) => ({ value: await loadLayout(candidate), detail: candidate }),
          isFatal: (cause) => isFileProblem(cause),
          explainFailure: (cause, candidate) => (candidate === 'cuda' ? explainCudaFailure(String((cause as Error)?.message ?? cause)) : firstLine(cause).slice(0, 300)),
        });
      } catch (cause) {
        if (isFileProblem(cause)) throw wrapLoad('the ONNX model', cause);
        const attempts = (cause as { attempts?: { device: string; reason: string }[] }).attempts;
        if (requested !== 'auto' && requested !== 'cpu') {
          throw new ClipRewardError(
            'CLIP_DEVICE_UNAVAILABLE',
            `device ${requested} is not available: ${attempts?.map((attempt) => attempt.reason).join('; ') ?? (cause as Error)?.message}; use device 'cpu', or 'auto' to fall back`,
            { cause },
          );
        }
        throw wrapLoad('the ONNX model', (cause as { cause?: unknown }).cause ?? cause);
      }
      const loaded = selected.value;
      const device = selected.device;
      if (requested === 'auto') {
        logger(selected.decision.summary);
        logger(`details: ${selected.decision.detail}`);
      }
      const models = loaded.models;
      const lay = loaded.lay;
      const textConfig = (models.text ?? models.combined)!.config as unknown as { text_config?: { max_position_embeddings?: number }; max_position_embeddings?: number };
      const maxPositions = textConfig.text_config?.max_position_embeddings ?? textConfig.max_position_embeddings ?? 77;
      const tokMax = Number(tokenizer.model_max_length);
      const maxTextTokens = Number.isFinite(tokMax) && tokMax > 0 ? Math.min(tokMax, maxPositions) : maxPositions;
      const model = new ClipModel(displaySource, device, dtype, lay, preprocess, maxTextTokens, logitScale ?? Number.NaN, tokenizer, models, t.Tensor);
      if (logitScale === undefined) {
        if (lay === 'combined') {
          (model as { logitScale: number }).logitScale = await model.measureLogitScale();
          logger(`${source}: logit scale ${model.logitScale.toFixed(4)} measured from the combined model`);
        } else {
          (model as { logitScale: number }).logitScale = 100;
        }
      }
      return model;
    }
  }

  private assertOpen(): void {
    if (this.disposed) throw new ClipRewardError('CLIP_DISPOSED', `the CLIP model ${this.source} has been disposed`);
  }

  /** Token ids per text before truncation (includes BOS/EOS). */
  tokenCounts(texts: readonly string[]): number[] {
    return texts.map((text) => this.tokenizer.encode(text).length);
  }

  /** Tokenise like Hugging Face: pad to the longest, truncate to {@link ClipModel.maxTextTokens}. */
  tokenize(texts: readonly string[]): Tokenized {
    this.assertOpen();
    const enc = this.tokenizer([...texts], { padding: true, truncation: true, max_length: this.maxTextTokens }) as unknown as {
      input_ids: HfTensor;
      attention_mask: HfTensor;
    };
    return { inputIds: enc.input_ids, attentionMask: enc.attention_mask };
  }

  private async runCombined(inputs: Record<string, HfTensor>): Promise<Record<string, HfTensor>> {
    return (await this.models.combined!(inputs)) as Record<string, HfTensor>;
  }

  private dummyText(): Tokenized {
    return this.tokenize(['']);
  }

  private dummyPixels(): HfTensor {
    const { height, width } = this.preprocess.crop!;
    return new this.Tensor('float32', new Float32Array(3 * height * width), [1, 3, height, width]);
  }

  private static rows(tensor: HfTensor): Float32Array[] {
    const [n, d] = tensor.dims as [number, number];
    const data = tensor.data as Float32Array;
    const out: Float32Array[] = [];
    for (let i = 0; i < n; i++) out.push(l2Normalize(data.subarray(i * d, (i + 1) * d)));
    return out;
  }

  private static disposeAll(...tensors: (HfTensor | TokenTensor | undefined)[]): void {
    for (const t of tensors) t?.dispose?.();
  }

  /** L2-normalised text embeddings of one batch (no caching, no chunking). */
  async embedTextBatch(texts: readonly string[]): Promise<Float32Array[]> {
    this.assertOpen();
    const tok = this.tokenize(texts);
    const inputs: Record<string, HfTensor> = { input_ids: tok.inputIds as HfTensor, attention_mask: tok.attentionMask as HfTensor };
    let outputs: Record<string, HfTensor> | undefined;
    let pixels: HfTensor | undefined;
    try {
      if (this.models.text) {
        outputs = (await this.models.text(inputs)) as Record<string, HfTensor>;
      } else {
        pixels = this.dummyPixels();
        outputs = await this.runCombined({ ...inputs, pixel_values: pixels });
      }
      return ClipModel.rows(outputs.text_embeds!);
    } finally {
      ClipModel.disposeAll(tok.inputIds, tok.attentionMask, pixels, ...Object.values(outputs ?? {}));
    }
  }

  /** L2-normalised image embeddings of one batch of pixel values [n, 3, H, W]. */
  async embedPixelBatch(pixelValues: Float32Array, n: number): Promise<Float32Array[]> {
    this.assertOpen();
    const { height, width } = this.preprocess.crop!;
    if (pixelValues.length !== n * 3 * height * width) {
      throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `pixel values: ${pixelValues.length} floats for ${n} image(s) of 3×${height}×${width}`);
    }
    const pixels = new this.Tensor('float32', pixelValues, [n, 3, height, width]);
    let outputs: Record<string, HfTensor> | undefined;
    let tok: Tokenized | undefined;
    try {
      if (this.models.vision) {
        outputs = (await this.models.vision({ pixel_values: pixels })) as Record<string, HfTensor>;
      } else {
        tok = this.dummyText();
        outputs = await this.runCombined({ input_ids: tok.inputIds as HfTensor, attention_mask: tok.attentionMask as HfTensor, pixel_values: pixels });
      }
      return ClipModel.rows(outputs.image_embeds!);
    } finally {
      ClipModel.disposeAll(pixels, tok?.inputIds, tok?.attentionMask, ...Object.values(outputs ?? {}));
    }
  }

  private async measureLogitScale(): Promise<number> {
    const tok = this.tokenize(['a photo']);
    const pixels = this.dummyPixels();
    const out = await this.runCombined({ input_ids: tok.inputIds as HfTensor, attention_mask: tok.attentionMask as HfTensor, pixel_values: pixels });
    try {
      const cos = dot(out.text_embeds!.data as Float32Array, out.image_embeds!.data as Float32Array);
      const logit = (out.logits_per_image!.data as Float32Array)[0]!;
      return Math.abs(cos) > 1e-6 ? logit / cos : 100;
    } finally {
      ClipModel.disposeAll(tok.inputIds, tok.attentionMask, pixels, ...Object.values(out));
    }
  }

  /** Release the ONNX sessions. Further calls throw `CLIP_DISPOSED`. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(Object.values(this.models).map((m) => m?.dispose()));
  }
}
