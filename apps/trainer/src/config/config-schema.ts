/**
 * The trainer's configuration: typed data validated by zod.
 *
 * Layers, lowest first: the defaults written here ← `config/default_config.json` ← a user file
 * (`--config`) ← CLI flags (`--training_settings.learning_rate 2e-6`). Every object is strict:
 * an unknown key is an error that names its path. Keys are snake_case, as in the original
 * design's `default_config.json` (`model_settings`, `training_settings`).
 */
import { SCHEDULER_CHOICES } from '@vlm-grpo/sd';
import { z } from 'zod';

/**
 * Where a stage runs. `auto` takes hardware only, in @vlm-grpo/device's order (Linux x64: cuda →
 * webgpu → cpu; macOS: webgpu on Metal → coreml → cpu), logging one line per decision; `coreml`
 * (macOS) is ONNX Runtime's Core ML EP for diffusion and CLIP.
 */
export const deviceSchema = z.enum(['auto', 'cpu', 'webgpu', 'cuda', 'coreml']);

/**
 * The policy engine (what runs sampling, log-probs, backward and AdamW): `tfjs` (@vlm-grpo/vlm's
 * TfjsPolicyEngine, any tfjs backend), `webgpu` (@vlm-grpo/policy-webgpu, the fused WebGPU
 * engine), `auto` (webgpu on a hardware WebGPU adapter once that engine supports the model, else
 * tfjs).
 */
export const policyBackendSchema = z.enum(['auto', 'tfjs', 'webgpu'], {
  error: (issue) =>
    ['tensorflow', 'wasm', 'cpu'].includes(String(issue.input))
      ? `policy_backend picks the policy engine (auto, tfjs, webgpu); the TensorFlow.js backend "${String(issue.input)}" is set with model_settings.policy_tfjs_backend`
      : `expected one of auto, tfjs, webgpu; received ${JSON.stringify(issue.input)}`,
});

/** Mixed precision of the webgpu policy engine (Accelerate's names; WebGPU has no bf16). */
export const mixedPrecisionSchema = z.enum(['no', 'fp16'], {
  error: (issue) =>
    issue.input === 'bf16'
      ? 'expected no or fp16; WebGPU shaders have no bf16 type, use fp16 (the master weights stay fp32)'
      : `expected one of no, fp16; received ${JSON.stringify(issue.input)}`,
});

/** Backend of the TensorFlow.js policy engine. */
export const policyTfjsBackendSchema = z.enum(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']);

const positiveInt = () => z.number().int().positive();
const nonNegativeInt = () => z.number().int().nonnegative();
const probability = () => z.number().min(0).max(1);

/** Models and devices. */
export const modelSettingsSchema = z.strictObject({
  /** Policy (prompt enhancer): local folder or Hugging Face id (default: the embedded model). */
  vlm_model: z.string().min(1).default('data/models/prompt-enhancer'),
  /** Diffusion model in the Optimum ONNX layout: folder or Hugging Face id (default: the embedded tiny SD). */
  sd_model: z.string().min(1).default('data/models/tiny-sd'),
  /** CLIP model in the transformers.js layout: folder or Hugging Face id (default: the embedded tiny CLIP). */
  clip_model: z.string().min(1).default('data/models/tiny-clip'),
  /** Device for ONNX Runtime (diffusion, CLIP) and the policy (default: `auto`). */
  device: deviceSchema.default('auto'),
  /** Policy engine: `tfjs`, `webgpu` (fused WebGPU engine) or `auto` (default: `auto`). */
  policy_backend: policyBackendSchema.default('auto'),
  /** TensorFlow.js backend of the tfjs policy engine; `auto` follows `device` (default: `auto`). */
  policy_tfjs_backend: policyTfjsBackendSchema.default('auto'),
  /** Weight variant for ONNX models: `fp32`, `fp16` or `q8` files (default: `fp32`). */
  dtype: z.enum(['fp32', 'fp16', 'q8']).default('fp32'),
  /** Never contact the Hugging Face hub: hub ids must be in the cache (default: true, so the default run needs no network; `HF_HUB_OFFLINE=1` forces it). */
  local_files_only: z.boolean().default(true),
  /** Hugging Face hub cache root shared with the Python tools (default: null: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cache_dir: z.string().min(1).nullable().default(null),
  /** Load the diffusion parts one at a time and release each after use (default: false). */
  memory_efficient: z.boolean().default(false),
});

/** The GRPO optimisation. Names follow TRL's GRPOConfig where one exists. */
export const trainingSettingsSchema = z.strictObject({
  /** Number of GRPO iterations (policy updates on fresh generations) (default: 6). */
  num_iterations: positiveInt().default(6),
  /** User prompts per iteration (default: 4). */
  batch_size: positiveInt().default(4),
  /** Completions sampled per prompt, G ≥ 2 (default: 4). */
  num_generations: z.number().int().min(2).default(4),
  /** Peak learning rate of AdamW (default: 1e-5). */
  learning_rate: z.number().positive().default(1e-5),
  /** Decoupled weight decay of AdamW (default: 0). */
  weight_decay: z.number().nonnegative().default(0),
  /** AdamW β1 (default: 0.9). */
  adam_beta1: z.number().min(0).lt(1).default(0.9),
  /** AdamW β2 (default: 0.999). */
  adam_beta2: z.number().min(0).lt(1).default(0.999),
  /** AdamW ε (default: 1e-8). */
  adam_epsilon: z.number().positive().default(1e-8),
  /** Global gradient-norm clip; 0 disables (default: 1). */
  max_grad_norm: z.number().nonnegative().default(1),
  /** Linear warm-up steps (default: 0). */
  warmup_steps: nonNegativeInt().default(0),
  /** Learning-rate schedule after warm-up (default: `constant`). */
  lr_scheduler: z.enum(['constant', 'linear', 'cosine']).default('constant'),
  /** KL coefficient β against the frozen reference; 0 drops the reference (default: 0.04). */
  beta: z.number().nonnegative().default(0.04),
  /** Lower clip range ε of the importance ratio (default: 0.2). */
  epsilon: z.number().positive().default(0.2),
  /** Upper clip range ε_high; null means equal to `epsilon` (default: null). */
  epsilon_high: z.number().positive().nullable().default(null),
  /** Optional upper cap δ on the ratio (two-sided clipping); null disables (default: null). */
  delta: z.number().gt(1).nullable().default(null),
  /** Loss aggregation: `grpo`, `bnpo`, `dr_grpo` or `dapo` (default: `dapo`, TRL's default). */
  loss_type: z.enum(['grpo', 'bnpo', 'dr_grpo', 'dapo']).default('dapo'),
  /** Advantage scaling: by `group` std, `batch` std, or `none` (Dr. GRPO) (default: `group`). */
  scale_rewards: z.enum(['group', 'batch', 'none']).default('group'),
  /** Importance sampling per `token` (GRPO) or per `sequence` (GSPO) (default: `token`). */
  importance_sampling_level: z.enum(['token', 'sequence']).default('token'),
  /** Optimisation passes μ over each generation batch (default: 1). */
  num_inner_iterations: positiveInt().default(1),
  /** Gradient accumulation steps per optimiser step (default: 1). */
  gradient_accumulation_steps: positiveInt().default(1),
  /** Exclude completions that hit `max_new_tokens` from the loss (default: false). */
  mask_truncated_completions: z.boolean().default(false),
  /** Mixed precision of the webgpu policy engine: `no` (fp32) or `fp16` (f16 matmuls with fp32 accumulation, fp32 master weights and AdamW; needs the adapter's shader-f16); the tfjs engine trains in fp32 (default: `no`). */
  mixed_precision: mixedPrecisionSchema.default('no'),
  /** Recompute each block's activations during the backward instead of keeping them (webgpu policy engine; same results, less activation memory, one more forward pass); the tfjs engine keeps them (default: false). */
  gradient_checkpointing: z.boolean().default(false),
  /** DAPO dynamic sampling: drop zero-spread groups and refill from the next prompts. */
  dynamic_sampling: z
    .strictObject({
      /** Enable dynamic sampling (default: false). */
      enabled: z.boolean().default(false),
      /** Most extra generation rounds per iteration to refill the batch (default: 2). */
      max_refill_rounds: nonNegativeInt().default(2),
    })
    .prefault({}),
  /** Reference-model sync `ref ← α·π + (1−α)·ref` (TRL's sync_ref_model). */
  ref_model_sync: z
    .strictObject({
      /** Enable the sync (default: false). */
      enabled: z.boolean().default(false),
      /** Mixing coefficient α (default: 0.6). */
      alpha: probability().default(0.6),
      /** Sync every N optimiser steps (default: 64). */
      every_steps: positiveInt().default(64),
    })
    .prefault({}),
  /** Seed of data order, sampling and image noise (default: 42). */
  seed: z.number().int().nonnegative().default(42),
  /** Validate every N iterations; 0 validates only at the end (default: 2). */
  validation_every: nonNegativeInt().default(2),
  /** Write a checkpoint every K iterations (default: 2). */
  checkpoint_every: positiveInt().default(2),
  /** Keep the last M checkpoints (default: 2). */
  keep_checkpoints: positiveInt().default(2),
  /** Stop the run when more than this fraction of an iteration's samples fail (default: 0.5). */
  max_failure_fraction: probability().default(0.5),
  /** Stop after this many consecutive iterations above the failure fraction (default: 2). */
  max_failed_iterations: positiveInt().default(2),
});

/** Sampling of the policy's rewrites. */
export const generationSettingsSchema = z.strictObject({
  /** Longest rewrite in tokens (default: 48). */
  max_new_tokens: positiveInt().default(48),
  /** Sampling temperature for training rollouts (default: 1). */
  temperature: z.number().positive().default(1),
  /** Top-k filter; 0 disables (default: 0). */
  top_k: nonNegativeInt().default(0),
  /** Nucleus (top-p) filter; 1 disables (default: 1). */
  top_p: z.number().gt(0).max(1).default(1),
  /** Repetition penalty; 1 disables (default: 1). */
  repetition_penalty: z.number().positive().default(1),
  /** Prompt template for base (non-chat) models, with `{prompt}`; null uses the model's own (default: null). */
  prompt_template: z
    .string()
    .refine((template) => template.includes('{prompt}'), { message: 'must contain {prompt}' })
    .nullable()
    .default(null),
});

/** Image generation for rewards and validation. */
export const diffusionSettingsSchema = z.strictObject({
  /** Denoising steps (default: 4). */
  steps: positiveInt().default(4),
  /** Classifier-free guidance scale; ≤ 1 disables guidance (default: 1). */
  guidance_scale: z.number().nonnegative().default(1),
  /** Image height in pixels, a multiple of the VAE factor (default: 64). */
  height: positiveInt().default(64),
  /** Image width in pixels, a multiple of the VAE factor (default: 64). */
  width: positiveInt().default(64),
  /** Scheduler override (@vlm-grpo/sd's `SCHEDULER_CHOICES`: `pndm`, `ddim`, `euler`, `euler_ancestral`, `dpm_solver`, `lcm`, `flow_match_euler`); null uses the model's (default: null). */
  scheduler: z.enum(SCHEDULER_CHOICES).nullable().default(null),
  /** Negative prompt used when guidance is on (default: empty). */
  negative_prompt: z.string().default(''),
  /** Images rendered per rewrite; their rewards are averaged (default: 1). */
  images_per_prompt: positiveInt().default(1),
  /** Same initial noise for every sample of a group, so rewards compare prompts, not noise (default: true). */
  same_seed_per_group: z.boolean().default(true),
});

/** Weight and options of one CLIP reward component. */
const componentSchema = <Shape extends z.ZodRawShape>(defaultWeight: number, extra: Shape) =>
  z.strictObject({
    /** Weight of the component in the total (0 disables it). */
    weight: z.number().nonnegative().default(defaultWeight),
    /** Per-component normalisation before weighting (default: none). */
    normalization: z.enum(['none', 'running_zscore']).default('none'),
    ...extra,
  });

/** Rewards: CLIP image rewards and text rewards, combined with weights. */
export const rewardSettingsSchema = z.strictObject({
  /** Image–text CLIP score of the image against the user's original prompt (default weight 1). */
  relevance_to_original: componentSchema(1, {
    /** Apply Promptist's gate `cos > 0.28 → 0, else 20·cos − 5.6` (default: false). */
    promptist_gate: z.boolean().default(false),
  }).prefault({}),
  /** CLIP score of the image against the rewritten prompt (default weight 0.5). */
  similarity: componentSchema(0.5, {
    /** `clip_score` = max(100·cos, 0) (torchmetrics) or raw `cosine` (default: `clip_score`). */
    mode: z.enum(['clip_score', 'cosine']).default('clip_score'),
  }).prefault({}),
  /** Text–text CLIP cosine between original and rewrite (default weight 0). */
  consistency: componentSchema(0, {}).prefault({}),
  /** No-reference image quality checks in [0, 1] (default weight 0.2). */
  quality: componentSchema(0.2, {}).prefault({}),
  /** LAION-style aesthetic head on the CLIP image embedding (default weight 0, no head). */
  aesthetic: componentSchema(0, {
    /** Path of the head's safetensors file; required when the weight is > 0 (default: null). */
    head_path: z.string().min(1).nullable().default(null),
  }).prefault({}),
  /** The diffusion model's own safety checker (`safety_checker/model.onnx`): 1 for a safe image, 0 for a flagged one (default weight 0; off with one log line when the model has none). */
  safety: componentSchema(0, {
    /** A checker output above this flags the image (default: 0.5; the usual export outputs a boolean). */
    threshold: z.number().default(0.5),
  }).prefault({}),
  /** Text reward: rewrite length (words) inside a range scores 1, falling off outside (default weight 1). */
  length_in_range: z
    .strictObject({
      /** Weight (default: 1). */
      weight: z.number().nonnegative().default(1),
      /** Fewest words for full reward (default: 12). */
      min_words: positiveInt().default(12),
      /** Most words for full reward (default: 50). */
      max_words: positiveInt().default(50),
    })
    .prefault({}),
  /** Text reward: fraction of the original prompt's content words kept in the rewrite (default weight 2). */
  subject_kept: z
    .strictObject({
      /** Weight (default: 2). */
      weight: z.number().nonnegative().default(2),
    })
    .prefault({}),
  /** Combine per-function rewards: `sum_then_normalize` (TRL) or `normalize_then_sum` (GDPO) (default: `sum_then_normalize`). */
  aggregation: z.enum(['sum_then_normalize', 'normalize_then_sum']).default('sum_then_normalize'),
});

/** Prompt data. Relative paths resolve against the working directory. */
export const dataSettingsSchema = z.strictObject({
  /** Training prompts (default: `data/train_prompts.jsonl`). */
  train_file: z.string().min(1).default('data/train_prompts.jsonl'),
  /** Validation prompts (default: `data/val_prompts.jsonl`). */
  val_file: z.string().min(1).default('data/val_prompts.jsonl'),
  /** Balance batches over `category`, `difficulty`, both, or `none` (default: `category`). */
  balance_by: z.enum(['category', 'difficulty', 'categoryAndDifficulty', 'none']).default('category'),
  /** Drop duplicate prompts while loading (default: true). */
  drop_duplicates: z.boolean().default(true),
  /** Skip invalid lines instead of failing (default: false). */
  skip_invalid: z.boolean().default(false),
});

/** Validation runs. */
export const validationSettingsSchema = z.strictObject({
  /** Validation prompts used per validation, taken balanced from the file; 0 uses all (default: 8). */
  num_prompts: nonNegativeInt().default(8),
  /** Reward above which an enhanced prompt counts as a success (default: 0). */
  success_threshold: z.number().default(0),
  /** Improvement over the original above which a rewrite counts as an improvement (default: 0). */
  improvement_margin: z.number().nonnegative().default(0),
  /** Save original | enhanced images and a contact sheet per validation (default: true). */
  save_images: z.boolean().default(true),
  /** Metric that selects `best_model/` (default: `enhanced_mean_reward`). */
  best_metric: z.enum(['enhanced_mean_reward', 'win_rate', 'mean_improvement']).default('enhanced_mean_reward'),
});

/** Where results go. */
export const outputSettingsSchema = z.strictObject({
  /** Run folder (default: `vlm_grpo_results`). */
  output_dir: z.string().min(1).default('vlm_grpo_results'),
  /** Replace a folder that holds a different run (default: false). */
  overwrite: z.boolean().default(false),
  /** Save the policy of the best validation to `best_model/` (default: true). */
  save_best_model: z.boolean().default(true),
});

/** Logging. */
export const loggingSettingsSchema = z.strictObject({
  /** Lowest level written (default: `INFO`). */
  level: z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']).default('INFO'),
  /** Log file inside the run folder (default: `vlm_grpo_training.log`). */
  log_file: z.string().min(1).default('vlm_grpo_training.log'),
  /** Progress bar: `auto` (only on a TTY), `always`, `never` (default: `auto`). */
  progress_bar: z.enum(['auto', 'always', 'never']).default('auto'),
});

/** Experiment tracking. */
export const trackingSettingsSchema = z.strictObject({
  /** Weights & Biases through @wandb/sdk. */
  wandb: z
    .strictObject({
      /** Log to W&B (default: false; `WANDB_API_KEY` alone does not enable it). */
      enabled: z.boolean().default(false),
      /** Project name (default: `vlm-grpo`). */
      project: z.string().min(1).default('vlm-grpo'),
      /** Entity (team or user); null uses the account's default (default: null). */
      entity: z.string().min(1).nullable().default(null),
      /** Run name; null lets W&B choose (default: null). */
      run_name: z.string().min(1).nullable().default(null),
      /** Server URL; null uses `WANDB_BASE_URL` or api.wandb.ai (default: null). */
      base_url: z.string().url().nullable().default(null),
      /** Log validation images to W&B (default: true). */
      log_images: z.boolean().default(true),
    })
    .prefault({}),
});

/** Where images are rendered and scored (see src/rollout/): in this process, or by workers through Redis. */
export const rolloutSettingsSchema = z.strictObject({
  /** `local`: render and score in the trainer process; `redis`: enqueue prompt groups for `vlm-grpo-worker` processes through Redis (BullMQ) (default: `local`). */
  backend: z.enum(['local', 'redis']).default('local'),
  /** Redis URL, `redis://` or `rediss://` (TLS), auth in the URL (`redis://:password@host:6379/0`); null uses env `VLM_GRPO_REDIS_URL`, else `redis://127.0.0.1:6379` (default: null). */
  redis_url: z
    .string()
    .regex(/^rediss?:\/\//u, { message: 'must start with redis:// or rediss://' })
    .nullable()
    .default(null),
  /** PEM file of the CA that signed the Redis server's TLS certificate, for `rediss://` with a private CA; null uses the system CAs (default: null). */
  redis_tls_ca_file: z.string().min(1).nullable().default(null),
  /** BullMQ key prefix of this run's queues; one trainer at a time per prefix, workers join by using the same one (default: `vlm-grpo`). */
  queue_prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/u, { message: 'letters, digits, _ . - only' })
    .default('vlm-grpo'),
  /** Seconds a group may take from enqueue to result before its samples count as failed (default: 600). */
  job_timeout_s: z.number().positive().default(600),
  /** Retries of a job whose worker failed or died (BullMQ attempts − 1) (default: 2). */
  retries: nonNegativeInt().default(2),
  /** Most prompt groups enqueued and not yet collected (default: 64). */
  max_groups_in_flight: positiveInt().default(64),
  /** Largest job or result payload in bytes (JSON); larger ones are rejected with an error naming the size (default: 16777216). */
  max_payload_bytes: positiveInt().default(16 * 1024 * 1024),
  /** Seconds the trainer waits for an unreachable Redis before the run fails, keeping its checkpoints (default: 120). */
  redis_timeout_s: z.number().positive().default(120),
  /** Worker lock duration in seconds: longer than the longest pause of a worker's event loop; a dead worker's job is recovered after it (default: 60). */
  lock_duration_s: z.number().positive().default(60),
  /** Seconds between stalled-job checks by the workers (BullMQ `stalledInterval`) (default: 30). */
  stalled_interval_s: z.number().positive().default(30),
  /** Times a job may stall (its worker died) before it fails (BullMQ `maxStalledCount`) (default: 2). */
  max_stalled_count: nonNegativeInt().default(2),
  /** Sample the policy in chunks of this many prompt groups, each enqueued as soon as it is sampled, so workers render while the next chunk is generated; 0 samples the whole batch in one call. Changes the sampled rewrites (per-chunk seeds) equally for both backends (default: 0). */
  generation_chunk_groups: nonNegativeInt().default(0),
});

/** Marks issues of rules that involve several keys, which only the merged configuration can judge. */
export const CROSS_FIELD = { crossField: true } as const;

/** The whole trainer configuration. */
export const trainerConfigSchema = z.strictObject({
  /** Free text saved with the results. */
  description: z.string().default(''),
  model_settings: modelSettingsSchema.prefault({}),
  training_settings: trainingSettingsSchema.prefault({}),
  generation_settings: generationSettingsSchema.prefault({}),
  diffusion_settings: diffusionSettingsSchema.prefault({}),
  reward_settings: rewardSettingsSchema.prefault({}),
  data_settings: dataSettingsSchema.prefault({}),
  validation_settings: validationSettingsSchema.prefault({}),
  output_settings: outputSettingsSchema.prefault({}),
  logging_settings: loggingSettingsSchema.prefault({}),
  tracking: trackingSettingsSchema.prefault({}),
  rollout_settings: rolloutSettingsSchema.prefault({}),
}).superRefine((config, context) => {
  const { min_words, max_words } = config.reward_settings.length_in_range;
  if (min_words > max_words) {
    context.addIssue({ code: 'custom', params: CROSS_FIELD, path: ['reward_settings', 'length_in_range', 'min_words'], message: `must be ≤ max_words (${max_words}), received ${min_words}` });
  }
  const { epsilon, epsilon_high } = config.training_settings;
  if (epsilon_high !== null && epsilon_high < epsilon) {
    context.addIssue({ code: 'custom', params: CROSS_FIELD, path: ['training_settings', 'epsilon_high'], message: `must be ≥ epsilon (${epsilon}), received ${epsilon_high}` });
  }
  if (config.reward_settings.aesthetic.weight > 0 && config.reward_settings.aesthetic.head_path === null) {
    context.addIssue({ code: 'custom', params: CROSS_FIELD, path: ['reward_settings', 'aesthetic', 'head_path'], message: 'is required when reward_settings.aesthetic.weight > 0' });
  }
});

/** A complete, validated trainer configuration. */
export type TrainerConfig = z.output<typeof trainerConfigSchema>;

/** A partial configuration as written in a file (every key optional). */
export type TrainerConfigInput = z.input<typeof trainerConfigSchema>;
