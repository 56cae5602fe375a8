/**
 * The diffusers `scheduler_config.json` keys this package reads, as one zod schema, plus the
 * noise-schedule math every discrete (DDPM-family) scheduler shares.
 *
 * Betas and ᾱ follow diffusers' `__init__` (identical in DDIM, PNDM, Euler, Euler ancestral, LCM
 * and DPM-Solver): `linear` = `torch.linspace(β0, β1, N, float32)`, `scaled_linear` =
 * `torch.linspace(√β0, √β1, N, float32)²`, `squaredcos_cap_v2` = `betas_for_alpha_bar` (cosine).
 * torch's float32 linspace (start + i·step for the first half, end − (N−1−i)·step for the second)
 * and the float32 products are emulated with `Math.fround`; the cumulative product is taken in
 * float64 and rounded to float32, which matches the reference values to ~5e-8 relative.
 */
import { z } from 'zod';
import { SdError } from './errors.js';
import { arange, f32, roundHalfEven } from './numeric.js';

/** The diffusers scheduler classes implemented here. */
export const SCHEDULER_NAMES = [
  'PNDMScheduler',
  'DDIMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'DPMSolverMultistepScheduler',
  'LCMScheduler',
  'FlowMatchEulerDiscreteScheduler',
] as const;

/** Name of a diffusers scheduler class implemented by this package. */
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** Short aliases accepted wherever a scheduler name is (case-insensitive). */
export const SCHEDULER_ALIASES: Readonly<Record<string, SchedulerName>> = {
  pndm: 'PNDMScheduler',
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  'euler-a': 'EulerAncestralDiscreteScheduler',
  'euler-ancestral': 'EulerAncestralDiscreteScheduler',
  'dpm++2m': 'DPMSolverMultistepScheduler',
  'dpm-solver++': 'DPMSolverMultistepScheduler',
  dpmsolver: 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
  'flow-match': 'FlowMatchEulerDiscreteScheduler',
  'flow-match-euler': 'FlowMatchEulerDiscreteScheduler',
};

const nullableNumber = z.number().nullable();

/**
 * Every `scheduler_config.json` key read by at least one scheduler here (snake_case, as diffusers
 * writes them). Keys left out take each scheduler's diffusers default.
 */
export const schedulerConfigSchema = z
  .object({
    num_train_timesteps: z.number().int().positive(),
    beta_start: z.number().positive(),
    beta_end: z.number().positive(),
    beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']),
    trained_betas: z.array(z.number()).nullable(),
    prediction_type: z.enum(['epsilon', 'v_prediction', 'sample', 'flow_prediction']),
    timestep_spacing: z.enum(['leading', 'trailing', 'linspace']),
    steps_offset: z.number().int().nonnegative(),
    set_alpha_to_one: z.boolean(),
    clip_sample: z.boolean(),
    clip_sample_range: z.number().positive(),
    thresholding: z.boolean(),
    dynamic_thresholding_ratio: z.number(),
    sample_max_value: z.number(),
    rescale_betas_zero_snr: z.boolean(),
    skip_prk_steps: z.boolean(),
    interpolation_type: z.enum(['linear', 'log_linear']),
    use_karras_sigmas: z.boolean().nullable(),
    use_exponential_sigmas: z.boolean().nullable(),
    use_beta_sigmas: z.boolean().nullable(),
    use_lu_lambdas: z.boolean().nullable(),
    use_flow_sigmas: z.boolean().nullable(),
    sigma_min: nullableNumber,
    sigma_max: nullableNumber,
    final_sigmas_type: z.enum(['zero', 'sigma_min']).nullable(),
    timestep_type: z.enum(['discrete', 'continuous']),
    solver_order: z.number().int().min(1).max(3),
    algorithm_type: z.enum(['dpmsolver++', 'sde-dpmsolver++', 'dpmsolver', 'sde-dpmsolver', 'deis']),
    solver_type: z.enum(['midpoint', 'heun', 'logrho', 'bh1', 'bh2']),
    lower_order_final: z.boolean(),
    euler_at_final: z.boolean(),
    lambda_min_clipped: z.number(),
    variance_type: z.string().nullable(),
    original_inference_steps: z.number().int().positive(),
    timestep_scaling: z.number(),
    shift: z.number().positive(),
    use_dynamic_shifting: z.boolean(),
    base_shift: nullableNumber,
    max_shift: nullableNumber,
    base_image_seq_len: z.number().int().nullable(),
    max_image_seq_len: z.number().int().nullable(),
    invert_sigmas: z.boolean(),
    shift_terminal: nullableNumber,
    time_shift_type: z.enum(['exponential', 'linear']),
    stochastic_sampling: z.boolean(),
  })
  .partial()
  .strict();

/** A (partial) diffusers scheduler config: the keys of `scheduler_config.json` this package reads. */
export type SchedulerConfig = z.infer<typeof schedulerConfigSchema>;

/**
 * Keys that appear in real diffusers scheduler configs but change nothing here (metadata, keys of
 * schedulers not implemented, or keys whose default is the only behaviour diffusers has).
 */
const IGNORED_FILE_KEYS = new Set([
  '_class_name',
  '_diffusers_version',
  'clip_sample_range_max',
  'skip_prk_steps_steps',
  'num_inference_steps',
  'rho',
  's_churn',
  's_tmin',
  's_tmax',
  's_noise',
  'use_bsigmas',
  'sample_padding_threshold',
  'sigma_data',
  'predict_x0',
  'disable_corrector',
  'solver_p',
  'lower_order_final_steps',
]);

/**
 * Parse a scheduler config. From a file (`strict: false`), keys unknown to every scheduler are
 * ignored and returned in `ignored` (diffusers also ignores them, with a warning); from user
 * code (`strict: true`) they are an error. Wrong value types are always an error naming the key.
 */
export function parseSchedulerConfig(
  raw: unknown,
  source: string,
  strict: boolean,
): { config: SchedulerConfig; ignored: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SdError('SD_INVALID_ARGUMENT', `${source}: scheduler config must be a JSON object`);
  }
  const known = new Set(Object.keys(schedulerConfigSchema.shape));
  const kept: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key)) kept[key] = value;
    else if (!strict || IGNORED_FILE_KEYS.has(key)) ignored.push(key);
    else {
      throw new SdError('SD_UNSUPPORTED_CONFIG', `${source}: unknown scheduler config key "${key}"`);
    }
  }
  const parsed = schedulerConfigSchema.safeParse(kept);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SdError('SD_INVALID_ARGUMENT', `${source}: invalid scheduler config: ${problems}`);
  }
  return { config: parsed.data, ignored };
}

/** Throw SD_UNSUPPORTED_CONFIG for a config value this package does not implement. */
export function unsupported(scheduler: string, key: string, value: unknown, supported: string): never {
  throw new SdError(
    'SD_UNSUPPORTED_CONFIG',
    `${scheduler}: ${key}=${JSON.stringify(value)} is not supported (supported: ${supported})`,
  );
}

/** torch.linspace(start, end, steps, dtype=float32), emulated. */
export function torchLinspaceF32(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  if (steps === 1) {
    out[0] = f32(start);
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32((e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < half ? f32(s + f32(i * step)) : f32(e - f32((steps - 1 - i) * step));
  }
  return out;
}

/** diffusers `betas_for_alpha_bar` with the cosine transform (Glide's `squaredcos_cap_v2`). */
function betasForAlphaBar(n: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta));
  return out;
}

/** diffusers `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1). */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sqrtAc = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i]!;
    sqrtAc[i] = Math.sqrt(prod);
  }
  const first = sqrtAc[0]!;
  const last = sqrtAc[n - 1]!;
  for (let i = 0; i < n; i++) sqrtAc[i] = ((sqrtAc[i]! - last) * first) / (first - last);
  const out = new Float64Array(n);
  out[0] = f32(1 - sqrtAc[0]! ** 2);
  for (let i = 1; i < n; i++) out[i] = f32(1 - sqrtAc[i]! ** 2 / sqrtAc[i - 1]! ** 2);
  return out;
}

/** Noise-schedule inputs shared by the DDPM-family schedulers. */
export interface BetaScheduleConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  trained_betas?: number[] | null;
  rescale_betas_zero_snr: boolean;
}

/** ᾱ_t = Π(1 − β_s), t = 0…N−1, as float32 values (see the file comment). */
export function alphasCumprod(config: BetaScheduleConfig): Float64Array {
  const n = config.num_train_timesteps;
  let betas: Float64Array;
  if (config.trained_betas) {
    if (config.trained_betas.length !== n) {
      throw new SdError(
        'SD_INVALID_ARGUMENT',
        `trained_betas has ${config.trained_betas.length} values, num_train_timesteps is ${n}`,
      );
    }
    betas = Float64Array.from(config.trained_betas, f32);
  } else if (config.beta_schedule === 'linear') {
    betas = torchLinspaceF32(config.beta_start, config.beta_end, n);
  } else if (config.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => f32(b * b));
  } else {
    betas = betasForAlphaBar(n);
  }
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  const out = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= f32(1 - betas[i]!);
    out[i] = f32(prod);
  }
  return out;
}

/**
 * Integer timesteps for DDIM/PNDM/Euler with `timestep_spacing` (diffusers `set_timesteps`),
 * descending. `linspace` is returned unrounded; callers round (DDIM, PNDM) or keep it (Euler).
 */
export function spacedTimesteps(
  spacing: 'leading' | 'trailing' | 'linspace',
  numTrain: number,
  steps: number,
  stepsOffset: number,
): number[] {
  if (spacing === 'linspace') {
    const out: number[] = [];
    for (let i = 0; i < steps; i++) out.push(steps === 1 ? 0 : ((numTrain - 1) * i) / (steps - 1));
    return out.reverse();
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / steps);
    const out: number[] = [];
    for (let i = 0; i < steps; i++) out.push(i * ratio + stepsOffset);
    return out.reverse();
  }
  return arange(numTrain, 0, -numTrain / steps).map((t) => roundHalfEven(t) - 1);
}

/** Karras et al. (2022) sigmas, ρ = 7 (diffusers `_convert_to_karras`). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const ramp = steps === 1 ? 0 : i / (steps - 1);
    out.push((maxInv + ramp * (minInv - maxInv)) ** rho);
  }
  return out;
}

/** diffusers `_sigma_to_t`: the (fractional) training timestep of a sigma, by log interpolation. */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}
