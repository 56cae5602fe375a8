/**
 * The three small interfaces through which the {@link Validator} talks to the rest of the system.
 * @vlm-grpo/eval never imports the policy, diffusion or CLIP packages: the trainer adapts them
 * (e.g. `VLMWrapper` → {@link PromptEnhancer}, the SD pipeline → {@link ImageRenderer}, the CLIP
 * reward → {@link ImageScorer}). Tests and the README use small fakes.
 */

/** How an enhancement was produced. */
export interface FallbackInfo {
  /** True when the enhancer fell back (e.g. returned the original prompt because generation failed). */
  used: boolean;
  /** Why it fell back, e.g. `empty generation`. */
  reason?: string;
}

/** One enhanced prompt as returned by a {@link PromptEnhancer}. */
export interface EnhancedPrompt {
  /** The rewritten prompt. Must be non-empty after trimming. */
  text: string;
  /** Fallback information; absent means no fallback. */
  fallback?: FallbackInfo;
}

/** Options the {@link Validator} passes to {@link PromptEnhancer.enhancePrompts}. */
export interface EnhanceCallOptions {
  /** Seed for any sampling, derived from the validator seed and the iteration. */
  seed?: number;
  /** Abort signal of the validation run. */
  signal?: AbortSignal;
  /** Further options given as `Validator` option `enhanceOptions` (e.g. `{ temperature: 0 }`). */
  [key: string]: unknown;
}

/**
 * Rewrites user prompts. Returns exactly one item per prompt, in order. An item may be a plain
 * string (no fallback), an {@link EnhancedPrompt}, or an `Error` for a prompt that failed alone.
 * Throwing fails every prompt of the call (they are recorded with stage `enhance`).
 */
export interface PromptEnhancer {
  enhancePrompts(prompts: string[], options?: EnhanceCallOptions): Promise<Array<EnhancedPrompt | string | Error>>;
}

/** An image as 8-bit pixels, row-major, channels interleaved. */
export interface RenderedImage {
  /** Width in pixels (positive integer). */
  width: number;
  /** Height in pixels (positive integer). */
  height: number;
  /** Pixels: `width * height * channels` bytes, RGB by default. */
  data: Uint8Array;
  /** 3 (RGB, default) or 4 (RGBA). */
  channels?: 3 | 4;
}

/** Per-item failure a renderer or scorer may return instead of a value. */
export interface ItemError {
  /** What went wrong (an `Error` or a message). */
  error: Error | string;
}

/** Options the {@link Validator} passes to {@link ImageRenderer.render}. */
export interface RenderCallOptions {
  /**
   * One seed per prompt (same length as `prompts`). The original and the enhanced prompt of one
   * validation prompt always receive the same seed, so their images share the initial noise.
   */
  seeds: number[];
  /** Abort signal of the validation run. */
  signal?: AbortSignal;
}

/**
 * Renders one image per prompt with the given seed. Returns exactly one item per prompt, in
 * order: a {@link RenderedImage}, or an `Error` / {@link ItemError} for an item that failed.
 * Throwing fails every item of the call.
 */
export interface ImageRenderer {
  render(prompts: string[], options: RenderCallOptions): Promise<Array<RenderedImage | ItemError | Error>>;
}

/** Reward of one image: the total and its named components (e.g. `relevance`, `aesthetic`). */
export interface ImageScore {
  /** The reward that metrics and win rate use. A non-finite total fails the item. */
  total: number;
  /** Named parts of the reward (any finite numbers; non-finite components are dropped with a warning). */
  components: Record<string, number>;
}

/** Context the {@link Validator} passes to {@link ImageScorer.score}; arrays align with `images`. */
export interface ScoreCallOptions {
  /** The user's original prompt of each image (score relevance against this one). */
  originalPrompts: string[];
  /** The prompt that produced each image (the original prompt itself for an original image). */
  enhancedPrompts: string[];
  /** Abort signal of the validation run. */
  signal?: AbortSignal;
}

/**
 * Scores images. Must score every image independently of the others in the call (no
 * batch-relative normalisation), because originals and enhanced images are compared across
 * calls. Returns one item per image, in order: an {@link ImageScore}, or an `Error` /
 * {@link ItemError}. Throwing fails every item of the call.
 */
export interface ImageScorer {
  score(images: RenderedImage[], options: ScoreCallOptions): Promise<Array<ImageScore | ItemError | Error>>;
}
