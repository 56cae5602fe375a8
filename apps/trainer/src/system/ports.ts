/**
 * The interfaces through which `VLMGRPOSystem` uses its models. The real implementations adapt
 * @vlm-grpo/vlm (policy), @vlm-grpo/sd (renderer) and @vlm-grpo/clip-reward (image rewards) in
 * `load-components.ts`; tests may pass their own. Images, the renderer and rewrites are
 * @vlm-grpo/eval's own types, so the validator takes them unchanged.
 */
import type { EnhancedPrompt, ImageRenderer, ItemError, RenderedImage } from '@vlm-grpo/eval';
import type { PolicyEngine } from '@vlm-grpo/grpo';

export type { EnhancedPrompt, ImageRenderer, ItemError, RenderedImage };

/** Options of {@link TrainablePolicy.enhancePrompts}. */
export interface EnhanceOptions {
  /** Seed of any sampling. */
  seed?: number;
  /** Sampling temperature; 0 is greedy (default: the policy's). */
  temperature?: number;
  /** Longest rewrite in tokens (default: the policy's). */
  maxNewTokens?: number;
  /** Category of each prompt, for the rule-based fallback (default: none). */
  categories?: (string | undefined)[];
  /** Abort signal. */
  signal?: AbortSignal;
}

/**
 * The policy: the engine GRPO trains (@vlm-grpo/grpo's `PolicyEngine` port: tfjs or the fused
 * WebGPU engine, per `model_settings.policy_backend`), plus enhancement for validation and
 * `enhance`, and saving.
 */
export interface TrainablePolicy extends PolicyEngine {
  /** Rewrite prompts (one item per prompt; an `Error` for a prompt that failed alone). */
  enhancePrompts(prompts: string[], options?: EnhanceOptions): Promise<Array<EnhancedPrompt | string | Error>>;
  /** Save a Hugging Face-compatible folder (config, safetensors weights, tokenizer). */
  save(directory: string): Promise<void>;
}

/** Unweighted reward components of one image (names as in `reward_settings`). */
export type RewardComponents = Partial<Record<ImageRewardName, number>>;

/** The image reward components the trainer knows. */
export const IMAGE_REWARD_NAMES = ['relevance_to_original', 'similarity', 'consistency', 'quality', 'aesthetic', 'safety'] as const;

/** One image reward component. */
export type ImageRewardName = (typeof IMAGE_REWARD_NAMES)[number];

/** Scores images with the CLIP reward components (and the diffusion model's safety checker), unweighted and independently per image. */
export interface ImageRewardModel {
  /**
   * Component values of each image: `originals[i]` is the user's prompt, `prompts[i]` the prompt
   * that produced the image. One item per image; an `Error` for an image that failed alone.
   */
  components(images: RenderedImage[], originals: string[], prompts: string[], signal?: AbortSignal): Promise<Array<RewardComponents | Error>>;
}

/** Which models to load: everything, or only the policy (for `enhance`). */
export type ComponentScope = 'all' | 'policy';

/** Where each model runs, after device fallbacks. */
export interface ComponentDevices {
  policy: string;
  diffusion: string;
  clip: string;
}

/** Everything `VLMGRPOSystem` needs from the model packages. */
export interface SystemComponents {
  policy: TrainablePolicy;
  /** Diffusion renderer; absent when only the policy was loaded (`enhance`). */
  renderer: ImageRenderer | undefined;
  /** CLIP reward components; absent like `renderer`. */
  imageRewards: ImageRewardModel | undefined;
  devices: ComponentDevices;
  /** Release every model. */
  dispose(): Promise<void>;
}
