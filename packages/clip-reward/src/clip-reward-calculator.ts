/**
 * CLIPRewardCalculator: CLIP embeddings and weighted, normalised reward components for
 * (image, text) pairs.
 *
 * Flow of `calculateRewards(images, texts, { originalPrompts, groups })` for n pairs:
 *   decode images → RGB (image-input.ts) → preprocess [n, 3, H, W] → image embeds [n, D]
 *   texts / original prompts → tokens (≤ 77, truncated as CLIP does) → text embeds [n, D] (LRU-cached)
 *   for each component c: raw_c[i] = f_c(context)            (reward-functions.ts)
 *                         norm_c   = normaliser_c(raw_c)     (normalization.ts; per component)
 *   total[i] = Σ_c weight_c · norm_c[i]
 * Embeddings are L2-normalised and equal Hugging Face `CLIPModel`'s `text_embeds`/`image_embeds`;
 * logits are `logitScale · cos` (`logits_per_image`).
 */
import { z } from 'zod';
import { AestheticHead, type HeadActivation } from './aesthetic-head.js';
import { ClipModel, type ClipLogger, type ClipModelOptions, type TextEncoding } from './clip-model.js';
import { preprocessInto } from './clip-preprocess.js';
import { ClipRewardError, EmptyTextError, MismatchedLengthsError } from './errors.js';
import { decodeImage, type ImageInput, type RgbImage } from './image-input.js';
import type { ImageQuality, QualityWeights } from './image-quality.js';
import { defaultClipModelPath } from './load-default-model.js';
import { LruCache } from './lru-cache.js';
import { Normalizer, type NormalizationSpec, type NormalizerState } from './normalization.js';
import {
  aestheticReward,
  consistencyReward,
  qualityReward,
  relevanceToOriginalReward,
  similarityReward,
  type ClipScoreMode,
  type RewardContext,
  type RewardFunction,
} from './reward-functions.js';
import { dot } from './vector-math.js';

/** Weight and normalisation shared by every component. */
export interface ComponentSettings {
  /** Weight in the total (default: 1). */
  weight?: number;
  /** Normalisation applied to this component before weighting (default: none). */
  normalize?: NormalizationSpec | readonly NormalizationSpec[];
}

/** A user-supplied reward component. */
export interface CustomRewardConfig extends ComponentSettings {
  /** Name in the breakdown (must differ from the built-in names). */
  name: string;
  /** The function (same signature as the built-ins). */
  fn: RewardFunction;
}

/** Which reward components to compute. Absent keys are off; by default only `similarity` is on. */
export interface RewardsConfig {
  /** Image vs its own text. */
  similarity?: false | (ComponentSettings & { mode?: ClipScoreMode });
  /** Image vs the user's original prompt. */
  relevanceToOriginal?: false | (ComponentSettings & { mode?: ClipScoreMode | 'promptistGate'; gateThreshold?: number; gateSlope?: number });
  /** Text–text and image–image consistency. */
  consistency?: false | (ComponentSettings & { textWeight?: number; imageWeight?: number });
  /** No-reference image quality. */
  quality?: false | (ComponentSettings & { weights?: QualityWeights });
  /** Aesthetic head (an {@link AestheticHead} or a safetensors path). */
  aesthetic?: false | (ComponentSettings & { head: AestheticHead | string; activation?: HeadActivation; normalizeInput?: boolean });
  /** Extra components. */
  custom?: readonly CustomRewardConfig[];
}

/** Options of {@link CLIPRewardCalculator.fromPretrained}. */
export interface CLIPRewardOptions extends ClipModelOptions {
  /** Images or texts per model run (default: 32). */
  batchSize?: number;
  /** Text embeddings kept in the LRU cache (default: 4096; 0 disables). */
  textCacheSize?: number;
  /** Reward components (default: `{ similarity: {} }`). */
  rewards?: RewardsConfig;
}

/** Per-call options of {@link CLIPRewardCalculator.calculateRewards}. */
export interface CalculateRewardsOptions {
  /** The users' original prompts, one per pair (needed by relevanceToOriginal and the text part of consistency). */
  originalPrompts?: readonly string[];
  /** Group label per pair; images with one label are "several images of one prompt" (default: by original prompt, else by text). */
  groups?: readonly (string | number)[];
  /** Let running z-scores absorb this batch (default: true; false for evaluation). */
  updateNormalization?: boolean;
}

/** The reward of one (image, text) pair. */
export interface RewardResult {
  /** Σ weight · normalised component. */
  total: number;
  /** Normalised component values (before weighting). */
  components: Record<string, number>;
  /** Component values before normalisation. */
  raw: Record<string, number>;
  /** Weight of each component. */
  weights: Record<string, number>;
  /** Tokens of the text before truncation (with BOS/EOS). */
  textTokens: number;
  /** True when the text was longer than CLIP's limit and was truncated. */
  textTruncated: boolean;
  /** Same for the original prompt (when given). */
  originalTruncated?: boolean;
  /** Quality checks of the image (when the quality component is on). */
  quality?: ImageQuality;
}

/** Saved normalisation statistics, by component name. */
export type NormalizationState = Record<string, NormalizerState[]>;

interface Component {
  name: string;
  fn: RewardFunction;
  weight: number;
  normalizer: Normalizer;
}

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `${what} must be a function`);
const common = { weight: z.number().finite().optional(), normalize: z.unknown().optional() };
const rewardsSchema = z.strictObject({
  similarity: z.union([z.literal(false), z.strictObject({ ...common, mode: z.enum(['clipScore', 'cosine']).optional() })]).optional(),
  relevanceToOriginal: z
    .union([
      z.literal(false),
      z.strictObject({
        ...common,
        mode: z.enum(['clipScore', 'cosine', 'promptistGate']).optional(),
        gateThreshold: z.number().finite().optional(),
        gateSlope: z.number().finite().optional(),
      }),
    ])
    .optional(),
  consistency: z
    .union([z.literal(false), z.strictObject({ ...common, textWeight: z.number().min(0).optional(), imageWeight: z.number().min(0).optional() })])
    .optional(),
  quality: z
    .union([
      z.literal(false),
      z.strictObject({
        ...common,
        weights: z
          .strictObject({ notBlank: z.number().min(0), contrast: z.number().min(0), dynamicRange: z.number().min(0), sharpness: z.number().min(0) })
          .partial()
          .optional(),
      }),
    ])
    .optional(),
  aesthetic: z
    .union([
      z.literal(false),
      z.strictObject({
        ...common,
        head: z.custom<AestheticHead | string>((v) => typeof v === 'string' || v instanceof AestheticHead, 'head must be an AestheticHead or a safetensors path'),
        activation: z.enum(['none', 'relu', 'gelu']).optional(),
        normalizeInput: z.boolean().optional(),
      }),
    ])
    .optional(),
  custom: z.array(z.strictObject({ ...common, name: z.string().min(1), fn: fn<RewardFunction>('fn') })).optional(),
});
const optionsSchema = z.strictObject({
  device: z.enum(['cpu', 'webgpu', 'cuda', 'auto']).optional(),
  dtype: z.enum(['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4']).optional(),
  localFilesOnly: z.boolean().optional(),
  cacheDir: z.string().min(1).optional(),
  revision: z.string().min(1).optional(),
  layout: z.enum(['auto', 'split', 'combined']).optional(),
  preprocessFlavour: z.enum(['torch', 'pil']).optional(),
  logitScale: z.number().positive().optional(),
  sessionOptions: z.record(z.string(), z.unknown()).optional(),
  logger: fn<ClipLogger>('logger').optional(),
  batchSize: z.number().int().positive().optional(),
  textCacheSize: z.number().int().min(0).optional(),
  rewards: rewardsSchema.optional(),
});

interface LooseIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: LooseIssue[][];
}

/** The most specific issue: inside a union, the branch that got furthest (longest path). */
function deepestIssue(issue: LooseIssue, prefix: PropertyKey[] = []): { path: PropertyKey[]; message: string } {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors?.length) {
    const candidates = issue.errors.flat().map((inner) => deepestIssue(inner, path));
    candidates.sort((a, b) => b.path.length - a.path.length);
    if (candidates[0]!.path.length > path.length) return candidates[0]!;
  }
  return { path, message: issue.message };
}

function configError(error: z.ZodError, what: string): ClipRewardError {
  const { path, message } = deepestIssue(error.issues[0] as unknown as LooseIssue);
  const key = path.map(String).join('.') || '(root)';
  return new ClipRewardError('CLIP_INVALID_CONFIG', `${what}: ${key}: ${message}`);
}

const BUILT_IN = ['similarity', 'relevanceToOriginal', 'consistency', 'quality', 'aesthetic'] as const;

async function buildComponents(config: RewardsConfig): Promise<Component[]> {
  const parsed = rewardsSchema.safeParse(config);
  if (!parsed.success) throw configError(parsed.error, 'rewards');
  const out: Component[] = [];
  const add = (name: string, f: RewardFunction, s: ComponentSettings): void => {
    out.push({ name, fn: f, weight: s.weight ?? 1, normalizer: new Normalizer(s.normalize ?? { type: 'none' }, `rewards.${name}.normalize`) });
  };
  const c = config;
  if (c.similarity) add('similarity', similarityReward({ mode: c.similarity.mode }), c.similarity);
  if (c.relevanceToOriginal) add('relevanceToOriginal', relevanceToOriginalReward(c.relevanceToOriginal), c.relevanceToOriginal);
  if (c.consistency) add('consistency', consistencyReward(c.consistency), c.consistency);
  if (c.quality) add('quality', qualityReward({ weights: c.quality.weights }), c.quality);
  if (c.aesthetic) {
    const a = c.aesthetic;
    const head =
      typeof a.head === 'string' ? await AestheticHead.fromSafetensors(a.head, { activation: a.activation, normalizeInput: a.normalizeInput }) : a.head;
    add('aesthetic', aestheticReward(head), a);
  }
  for (const custom of c.custom ?? []) {
    if ((BUILT_IN as readonly string[]).includes(custom.name) || out.some((o) => o.name === custom.name)) {
      throw new ClipRewardError('CLIP_INVALID_CONFIG', `rewards.custom: name "${custom.name}" is already used`);
    }
    add(custom.name, custom.fn, custom);
  }
  if (out.length === 0) throw new ClipRewardError('CLIP_INVALID_CONFIG', 'rewards: no component is enabled');
  return out;
}

function checkTexts(texts: readonly string[], listName: string): void {
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `${listName}[${i}] must be a string, got ${typeof t}`);
    if (t.trim() === '') throw new EmptyTextError(i, listName);
  });
}

/** Scores images against text with CLIP and combines reward components. */
export class CLIPRewardCalculator {
  /** Images or texts per model run. */
  readonly batchSize: number;
  private components: Component[];
  private readonly textCache: LruCache<string, TextEncoding>;

  private constructor(
    private readonly model: ClipModel,
    components: Component[],
    batchSize: number,
    textCacheSize: number,
  ) {
    this.components = components;
    this.batchSize = batchSize;
    this.textCache = new LruCache(textCacheSize);
  }

  /**
   * Load a CLIP model from a local folder (transformers.js layout) or a Hugging Face Hub id (e.g.
   * `Xenova/clip-vit-base-patch32`, downloaded and cached where a network exists). Default
   * `modelIdOrPath` (undefined): the embedded default `clip` model from the optional peer
   * dependency @vlm-grpo/models (offline; CLIP_DEFAULT_MODEL_UNAVAILABLE when that package is not
   * installed). Pass `undefined` to give options without an id; an empty string is
   * CLIP_INVALID_ARGUMENT.
   */
  static async fromPretrained(modelIdOrPath?: string, options: CLIPRewardOptions = {}): Promise<CLIPRewardCalculator> {
    if (modelIdOrPath !== undefined && (typeof modelIdOrPath !== 'string' || modelIdOrPath.trim() === '')) {
      throw new ClipRewardError('CLIP_INVALID_ARGUMENT', 'modelIdOrPath must be a non-empty string (a folder or a Hub id), or omitted for the embedded default model');
    }
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw configError(parsed.error, 'CLIPRewardCalculator options');
    const source = modelIdOrPath ?? (await defaultClipModelPath('CLIPRewardCalculator.fromPretrained()'));
    const components = await buildComponents(options.rewards ?? { similarity: {} });
    const model = await ClipModel.load(source, options);
    return new CLIPRewardCalculator(model, components, options.batchSize ?? 32, options.textCacheSize ?? 4096);
  }

  /** Model id or absolute folder. */
  get source(): string {
    return this.model.source;
  }

  /** Device the model runs on (after `auto` resolution). */
  get device(): 'cpu' | 'webgpu' | 'cuda' | 'coreml' {
    return this.model.device;
  }

  /** ONNX layout in use. */
  get layout(): 'split' | 'combined' {
    return this.model.layout;
  }

  /** CLIP's text limit in tokens (77). */
  get maxTextTokens(): number {
    return this.model.maxTextTokens;
  }

  /** exp(logit_scale) used by {@link CLIPRewardCalculator.logits}. */
  get logitScale(): number {
    return this.model.logitScale;
  }

  /** Names of the active reward components, in order. */
  get componentNames(): string[] {
    return this.components.map((c) => c.name);
  }

  /** Hits, misses and size of the text-embedding cache. */
  get textCacheStats(): { hits: number; misses: number; size: number; capacity: number } {
    return this.textCache.stats;
  }

  /** Replace the reward components (normalisation statistics start afresh). */
  async setRewards(rewards: RewardsConfig): Promise<void> {
    this.components = await buildComponents(rewards);
  }

  /** Text embeddings with token counts and truncation flags (cached, batched). */
  async encodeTexts(texts: readonly string[]): Promise<TextEncoding[]> {
    checkTexts(texts, 'texts');
    const result = new Map<string, TextEncoding>();
    const pending = new Set<string>();
    for (const t of texts) {
      if (result.has(t) || pending.has(t)) continue;
      const hit = this.textCache.get(t);
      if (hit) result.set(t, hit);
      else pending.add(t);
    }
    const todo = [...pending];
    for (let start = 0; start < todo.length; start += this.batchSize) {
      const chunk = todo.slice(start, start + this.batchSize);
      const counts = this.model.tokenCounts(chunk);
      const embeds = await this.model.embedTextBatch(chunk);
      chunk.forEach((t, i) => {
        const enc: TextEncoding = { embedding: embeds[i]!, tokenCount: counts[i]!, truncated: counts[i]! > this.model.maxTextTokens };
        result.set(t, enc);
        this.textCache.set(t, enc);
      });
    }
    return texts.map((t) => result.get(t)!);
  }

  /** L2-normalised text embeddings, one `Float32Array` row per text (same values as HF `text_embeds`). */
  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    return (await this.encodeTexts(texts)).map((e) => e.embedding);
  }

  /** Preprocess images into CLIP `pixel_values` (float32 [n, 3, H, W]). */
  async preprocessImages(images: readonly ImageInput[]): Promise<{ data: Float32Array; dims: [number, number, number, number] }> {
    const decoded = await Promise.all(images.map((img, i) => decodeImage(img, i)));
    return this.pixelValuesOf(decoded);
  }

  private pixelValuesOf(decoded: readonly RgbImage[]): { data: Float32Array; dims: [number, number, number, number] } {
    const { height, width } = this.model.preprocess.crop!;
    const per = 3 * height * width;
    const data = new Float32Array(decoded.length * per);
    decoded.forEach((img, i) => preprocessInto(img, this.model.preprocess, data, i * per));
    return { data, dims: [decoded.length, 3, height, width] };
  }

  /** L2-normalised image embeddings of preprocessed `pixel_values` (float32 [n, 3, H, W], C order). */
  async embedPixelValues(pixelValues: Float32Array, count: number): Promise<Float32Array[]> {
    const { height, width } = this.model.preprocess.crop!;
    const per = 3 * height * width;
    if (!Number.isInteger(count) || count < 0 || pixelValues.length !== count * per) {
      throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `pixelValues has ${pixelValues.length} floats; expected ${count}×3×${height}×${width}`);
    }
    const out: Float32Array[] = [];
    for (let start = 0; start < count; start += this.batchSize) {
      const n = Math.min(this.batchSize, count - start);
      out.push(...(await this.model.embedPixelBatch(pixelValues.slice(start * per, (start + n) * per), n)));
    }
    return out;
  }

  private async embedDecoded(decoded: readonly RgbImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let start = 0; start < decoded.length; start += this.batchSize) {
      const chunk = decoded.slice(start, start + this.batchSize);
      const { data } = this.pixelValuesOf(chunk);
      out.push(...(await this.model.embedPixelBatch(data, chunk.length)));
    }
    return out;
  }

  private async decodeAll(images: readonly ImageInput[]): Promise<RgbImage[]> {
    const out: RgbImage[] = [];
    for (let start = 0; start < images.length; start += this.batchSize) {
      out.push(...(await Promise.all(images.slice(start, start + this.batchSize).map((img, i) => decodeImage(img, start + i)))));
    }
    return out;
  }

  /** L2-normalised image embeddings, one row per image (same values as HF `image_embeds`). */
  async embedImages(images: readonly ImageInput[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let start = 0; start < images.length; start += this.batchSize) {
      const chunk = await Promise.all(images.slice(start, start + this.batchSize).map((img, i) => decodeImage(img, start + i)));
      out.push(...(await this.embedDecoded(chunk)));
    }
    return out;
  }

  /** Cosine matrix [images][texts] of two sets of L2-normalised embeddings. */
  similarityMatrix(imageEmbeds: readonly Float32Array[], textEmbeds: readonly Float32Array[]): number[][] {
    return imageEmbeds.map((e) => textEmbeds.map((t) => dot(e, t)));
  }

  /** `logits_per_image` [images][texts] = logitScale · cos, as HF `CLIPModel`. */
  logits(imageEmbeds: readonly Float32Array[], textEmbeds: readonly Float32Array[]): number[][] {
    return this.similarityMatrix(imageEmbeds, textEmbeds).map((row) => row.map((c) => this.model.logitScale * c));
  }

  /** Total reward of one pair with the configured components. */
  async calculateReward(image: ImageInput, text: string, options: CalculateRewardsOptions = {}): Promise<number> {
    return (await this.calculateRewards([image], [text], options))[0]!.total;
  }

  /** One {@link RewardResult} per (image, text) pair. */
  async calculateRewards(images: readonly ImageInput[], texts: readonly string[], options: CalculateRewardsOptions = {}): Promise<RewardResult[]> {
    const n = images.length;
    if (n !== texts.length) throw new MismatchedLengthsError({ name: 'images', length: n }, { name: 'texts', length: texts.length });
    const { originalPrompts, groups } = options;
    if (originalPrompts && originalPrompts.length !== n) {
      throw new MismatchedLengthsError({ name: 'images', length: n }, { name: 'originalPrompts', length: originalPrompts.length });
    }
    if (groups && groups.length !== n) throw new MismatchedLengthsError({ name: 'images', length: n }, { name: 'groups', length: groups.length });
    checkTexts(texts, 'texts');
    if (originalPrompts) checkTexts(originalPrompts, 'originalPrompts');
    if (n === 0) return [];

    const decoded = await this.decodeAll(images);
    const imageEmbeds = await this.embedDecoded(decoded);
    const textEnc = await this.encodeTexts(texts);
    const origEnc = originalPrompts ? await this.encodeTexts(originalPrompts) : undefined;
    const labels: readonly (string | number)[] = groups ?? originalPrompts ?? texts;
    const ids = new Map<string | number, number>();
    const groupIndex = labels.map((l) => {
      if (!ids.has(l)) ids.set(l, ids.size);
      return ids.get(l)!;
    });
    const context: RewardContext = {
      images: decoded,
      imageEmbeds,
      texts,
      textEmbeds: textEnc.map((e) => e.embedding),
      originalPrompts,
      originalEmbeds: origEnc?.map((e) => e.embedding),
      groups: groupIndex,
      details: Array.from({ length: n }, () => ({})),
    };
    const update = options.updateNormalization ?? true;
    const raw: Record<string, readonly number[]> = {};
    for (const c of this.components) {
      const values = await c.fn(context);
      if (!Array.isArray(values) || values.length !== n) {
        throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `reward component "${c.name}" returned ${Array.isArray(values) ? values.length : typeof values} value(s) for ${n} pair(s)`);
      }
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `reward component "${c.name}" returned ${String(v)} for pair ${i}; expected a finite number`);
        }
      });
      raw[c.name] = values;
    }
    const normalized: Record<string, number[]> = {};
    for (const c of this.components) normalized[c.name] = c.normalizer.apply(raw[c.name]!, update);
    return Array.from({ length: n }, (_, i): RewardResult => {
      const components: Record<string, number> = {};
      const rawOut: Record<string, number> = {};
      const weights: Record<string, number> = {};
      let total = 0;
      for (const c of this.components) {
        components[c.name] = normalized[c.name]![i]!;
        rawOut[c.name] = raw[c.name]![i]!;
        weights[c.name] = c.weight;
        total += c.weight * normalized[c.name]![i]!;
      }
      const result: RewardResult = {
        total,
        components,
        raw: rawOut,
        weights,
        textTokens: textEnc[i]!.tokenCount,
        textTruncated: textEnc[i]!.truncated,
      };
      if (origEnc) result.originalTruncated = origEnc[i]!.truncated;
      const quality = context.details[i]!.quality as ImageQuality | undefined;
      if (quality) result.quality = quality;
      return result;
    });
  }

  /** Running normalisation statistics of every component (JSON-serialisable; save with a checkpoint). */
  getNormalizationState(): NormalizationState {
    return Object.fromEntries(this.components.map((c) => [c.name, c.normalizer.getState()]));
  }

  /** Restore statistics saved by {@link CLIPRewardCalculator.getNormalizationState}. */
  setNormalizationState(state: NormalizationState): void {
    for (const name of Object.keys(state)) {
      if (!this.components.some((c) => c.name === name)) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `normalization state has component "${name}", which is not configured`);
      }
    }
    for (const c of this.components) {
      const s = state[c.name];
      if (s) c.normalizer.setState(s, `normalization state of "${c.name}"`);
    }
  }

  /** Forget all running normalisation statistics. */
  resetNormalization(): void {
    for (const c of this.components) c.normalizer.reset();
  }

  /** Empty the text-embedding cache. */
  clearTextCache(): void {
    this.textCache.clear();
  }

  /** Release the ONNX sessions; later calls throw `CLIP_DISPOSED`. */
  async dispose(): Promise<void> {
    this.textCache.clear();
    await this.model.dispose();
  }
}
