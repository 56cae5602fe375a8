/**
 * Reward functions. Every function — built-in or custom — has one signature: it receives the whole
 * batch ({@link RewardContext}) and returns one number per (image, text) pair, like TRL's reward
 * functions (`completions → list[float]`). Definitions, with cos = cosine of L2-normalised CLIP
 * embeddings:
 *
 * - `similarity` (image vs the text it was generated from):
 *     `clipScore`: max(100·cos, 0) — torchmetrics `CLIPScore` per pair (torchmetrics clamps the
 *     batch mean instead; per-pair clamping is the usual reward form); `cosine`: cos.
 * - `relevanceToOriginal` (image vs the user's ORIGINAL prompt, so rewrites cannot drift off-topic;
 *     Promptist, PAE): `clipScore`, `cosine`, or `promptistGate`: min(slope·(cos − threshold), 0)
 *     with Promptist's threshold 0.28 and slope 20, i.e. 0 when cos > 0.28 else 20·cos − 5.6.
 * - `consistency`: textWeight·cos(original text, rewritten text) + imageWeight·(mean cos of the
 *     image with the other images of its group), over the parts that exist (weights renormalised):
 *     the text part needs `originalPrompts`, the image part a group with ≥ 2 images.
 * - `quality`: weighted mean of the no-reference checks of image-quality.ts, in [0, 1].
 * - `aesthetic`: an {@link AestheticHead} on the image embedding.
 */
import type { AestheticHead } from './aesthetic-head.js';
import { ClipRewardError } from './errors.js';
import type { RgbImage } from './image-input.js';
import { imageQuality, type ImageQuality, type QualityWeights } from './image-quality.js';
import { dot } from './vector-math.js';

/** Everything a reward function may use for one batch of n (image, text) pairs. */
export interface RewardContext {
  /** Decoded images (8-bit RGB), n. */
  images: readonly RgbImage[];
  /** L2-normalised image embeddings, n × [D]. */
  imageEmbeds: readonly Float32Array[];
  /** Texts the images were generated from (e.g. the rewritten prompts), n. */
  texts: readonly string[];
  /** L2-normalised embeddings of `texts`, n × [D]. */
  textEmbeds: readonly Float32Array[];
  /** The users' original prompts, n (undefined when not given). */
  originalPrompts?: readonly string[];
  /** L2-normalised embeddings of `originalPrompts`. */
  originalEmbeds?: readonly Float32Array[];
  /** Group index of each pair (images of one prompt share an index), n. */
  groups: readonly number[];
  /** Per-pair details a function may fill (e.g. quality checks), keyed by component name. */
  details: Record<string, unknown>[];
}

/** A reward function: one number per pair. May be async. */
export type RewardFunction = (context: RewardContext) => readonly number[] | Promise<readonly number[]>;

/** How a CLIP cosine becomes a score. */
export type ClipScoreMode = 'clipScore' | 'cosine';

/** Convert a cosine to a score. */
export function scoreCosine(cos: number, mode: ClipScoreMode): number {
  return mode === 'clipScore' ? Math.max(100 * cos, 0) : cos;
}

/** Options of {@link similarityReward}. */
export interface SimilarityOptions {
  /** `clipScore` = max(100·cos, 0) or raw `cosine` (default: `clipScore`). */
  mode?: ClipScoreMode;
}

/** CLIP similarity of each image to its own text. */
export function similarityReward(options: SimilarityOptions = {}): RewardFunction {
  const mode = options.mode ?? 'clipScore';
  return (ctx) => ctx.imageEmbeds.map((e, i) => scoreCosine(dot(e, ctx.textEmbeds[i]!), mode));
}

/** Options of {@link relevanceToOriginalReward}. */
export interface RelevanceOptions {
  /** `clipScore`, `cosine`, or Promptist's `promptistGate` (default: `clipScore`). */
  mode?: ClipScoreMode | 'promptistGate';
  /** Gate threshold on cos (default: 0.28, Promptist). */
  gateThreshold?: number;
  /** Gate slope (default: 20, Promptist). */
  gateSlope?: number;
}

/** Promptist's relevance gate: min(slope·(cos − threshold), 0). */
export function promptistGate(cos: number, threshold = 0.28, slope = 20): number {
  return Math.min(slope * (cos - threshold), 0);
}

function requireOriginals(ctx: RewardContext, what: string): readonly Float32Array[] {
  if (!ctx.originalEmbeds) {
    throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `${what} needs the original prompts: pass { originalPrompts } to calculateRewards`);
  }
  return ctx.originalEmbeds;
}

/** CLIP similarity of each image to the user's original prompt. */
export function relevanceToOriginalReward(options: RelevanceOptions = {}): RewardFunction {
  const mode = options.mode ?? 'clipScore';
  const threshold = options.gateThreshold ?? 0.28;
  const slope = options.gateSlope ?? 20;
  return (ctx) => {
    const originals = requireOriginals(ctx, 'relevanceToOriginal');
    return ctx.imageEmbeds.map((e, i) => {
      const cos = dot(e, originals[i]!);
      return mode === 'promptistGate' ? promptistGate(cos, threshold, slope) : scoreCosine(cos, mode);
    });
  };
}

/** Options of {@link consistencyReward}. */
export interface ConsistencyOptions {
  /** Weight of cos(original text, rewritten text) (default: 0.5). */
  textWeight?: number;
  /** Weight of the mean image–image cosine within a group (default: 0.5). */
  imageWeight?: number;
}

/** Mean cosine of each image with the other images of its group (undefined for a group of one). */
export function mutualImageSimilarity(imageEmbeds: readonly Float32Array[], groups: readonly number[]): (number | undefined)[] {
  const members = new Map<number, number[]>();
  groups.forEach((g, i) => members.set(g, [...(members.get(g) ?? []), i]));
  return imageEmbeds.map((e, i) => {
    const others = members.get(groups[i]!)!.filter((j) => j !== i);
    if (others.length === 0) return undefined;
    return others.reduce((s, j) => s + dot(e, imageEmbeds[j]!), 0) / others.length;
  });
}

/** Text–text consistency with the original prompt and image–image consistency within a group. */
export function consistencyReward(options: ConsistencyOptions = {}): RewardFunction {
  const tw = options.textWeight ?? 0.5;
  const iw = options.imageWeight ?? 0.5;
  return (ctx) => {
    const mutual = mutualImageSimilarity(ctx.imageEmbeds, ctx.groups);
    return ctx.textEmbeds.map((t, i) => {
      const parts: [number, number][] = [];
      if (ctx.originalEmbeds && tw > 0) parts.push([tw, dot(t, ctx.originalEmbeds[i]!)]);
      if (mutual[i] !== undefined && iw > 0) parts.push([iw, mutual[i]!]);
      if (parts.length === 0) {
        throw new ClipRewardError(
          'CLIP_INVALID_ARGUMENT',
          `consistency for pair ${i}: needs originalPrompts (text part) or a group with at least 2 images (image part)`,
        );
      }
      const wSum = parts.reduce((s, [w]) => s + w, 0);
      return parts.reduce((s, [w, v]) => s + w * v, 0) / wSum;
    });
  };
}

/** Options of {@link qualityReward}. */
export interface QualityOptions {
  /** Weights of the checks (default: 1 each). */
  weights?: QualityWeights;
}

/** No-reference image quality in [0, 1]; the per-check scores go to `details[i].quality`. */
export function qualityReward(options: QualityOptions = {}): RewardFunction {
  return (ctx) =>
    ctx.images.map((image, i) => {
      const q: ImageQuality = imageQuality(image, options.weights);
      ctx.details[i]!.quality = q;
      return q.score;
    });
}

/** Aesthetic score of each image from a linear/MLP head on its CLIP embedding. */
export function aestheticReward(head: AestheticHead): RewardFunction {
  return (ctx) => ctx.imageEmbeds.map((e) => head.score(e));
}
