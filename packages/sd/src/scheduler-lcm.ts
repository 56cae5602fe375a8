/**
 * LCMScheduler (Luo et al. 2023, latent consistency models), a port of diffusers
 * `scheduling_lcm.py`.
 *
 * set_timesteps: k = N // original_inference_steps; origin = arange(1, original_steps+1)·k − 1,
 * reversed; timesteps = origin[floor(linspace(0, len, n, endpoint=False))] (`timestep_spacing` is
 * not used by LCM, as in diffusers). step, with c_skip = σ_d²/((10t)² + σ_d²),
 * c_out = 10t/√((10t)² + σ_d²), σ_d = 0.5 (×`timestep_scaling` = 10):
 *   x0 = (x − √(1−ᾱ_t)·ε)/√ᾱ_t (or v/sample analogues), clipped if clip_sample;
 *   denoised = c_out·x0 + c_skip·x;
 *   x' = √ᾱ_{t'}·denoised + √(1−ᾱ_{t'})·z except on the last step, where x' = denoised.
 * Returns `denoised`, which the pipeline decodes (diffusers' LCM pipeline does the same).
 * Not implemented (SD_UNSUPPORTED_CONFIG): thresholding; `strength` < 1 (img2img only).
 */
import type { AffineStep } from './affine-step.js';
import type { NoiseSource, Scheduler, SchedulerStepResult } from './scheduler.js';
import { requireNoise } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { alphasCumprod, unsupported } from './scheduler-config.js';
import { predictOriginal, predictOriginalCoefficients } from './scheduler-ddim.js';

/** diffusers' LCMScheduler defaults. */
export const LCM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1,
  timestep_spacing: 'leading',
  timestep_scaling: 10,
  rescale_betas_zero_snr: false,
} as const satisfies SchedulerConfig;

type LcmConfig = Omit<SchedulerConfig, keyof typeof LCM_DEFAULTS> & {
  -readonly [K in keyof typeof LCM_DEFAULTS]: NonNullable<SchedulerConfig[K]>;
};

/** Latent-consistency sampler (diffusers `LCMScheduler`). */
export class LCMScheduler implements Scheduler {
  readonly className = 'LCMScheduler' as const;
  readonly config: LcmConfig;
  readonly sigmas = undefined;
  readonly initNoiseSigma = 1;
  readonly stochastic = true;
  timesteps: number[] = [];
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;

  constructor(config: SchedulerConfig = {}) {
    this.config = { ...LCM_DEFAULTS, ...config } as LcmConfig;
    if (this.config.thresholding) unsupported(this.className, 'thresholding', true, 'false');
    this.alphas = alphasCumprod(this.config);
    if (this.config.rescale_betas_zero_snr) this.alphas[this.alphas.length - 1] = 2 ** -24;
    this.finalAlpha = this.config.set_alpha_to_one ? 1 : this.alphas[0]!;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const original = c.original_inference_steps;
    if (original > c.num_train_timesteps) {
      throw new RangeError(`LCMScheduler: original_inference_steps ${original} > num_train_timesteps`);
    }
    if (numInferenceSteps > original) {
      throw new RangeError(
        `LCMScheduler: ${numInferenceSteps} steps exceed original_inference_steps ${original}; the schedule is a subset of it`,
      );
    }
    const k = Math.floor(c.num_train_timesteps / original);
    const origin: number[] = [];
    for (let i = original; i >= 1; i--) origin.push(i * k - 1);
    const out: number[] = [];
    for (let i = 0; i < numInferenceSteps; i++) out.push(origin[Math.floor((i * origin.length) / numInferenceSteps)]!);
    this.timesteps = out;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** c_skip and c_out of the consistency boundary condition at timestep t. */
  boundaryScalings(t: number): { cSkip: number; cOut: number } {
    const sigmaData = 0.5;
    const st = t * this.config.timestep_scaling;
    return {
      cSkip: sigmaData ** 2 / (st * st + sigmaData ** 2),
      cOut: st / Math.sqrt(st * st + sigmaData ** 2),
    };
  }

  /** Every LCM input is unscaled. */
  inputScale(): number {
    return 1;
  }

  /**
   * The step at `stepIndex` as an affine plan: denoised = c_out·x0 + c_skip·x, then
   * x' = √ᾱ'·denoised + √(1−ᾱ')·z (x' = denoised on the last step); undefined with
   * `clip_sample` (clipping x0 is not affine: that configuration stays on the host).
   */
  affineStep(stepIndex: number): AffineStep | undefined {
    if (this.config.clip_sample) return undefined;
    const t = this.timesteps[stepIndex]!;
    const isLast = stepIndex === this.timesteps.length - 1;
    const prevT = isLast ? t : this.timesteps[stepIndex + 1]!;
    const a = this.alphas[t]!;
    const ap = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const { cSkip, cOut } = this.boundaryScalings(t);
    const { x0 } = predictOriginalCoefficients(this.config.prediction_type, Math.sqrt(a), Math.sqrt(1 - a), this.className);
    const denoised = { sample: cOut * x0.sample + cSkip, model: cOut * x0.model };
    if (isLast) return { next: denoised, store: {}, keep: [] };
    const sa = Math.sqrt(ap);
    return { next: { sample: sa * denoised.sample, model: sa * denoised.model, noise: Math.sqrt(1 - ap) }, store: {}, keep: [] };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult {
    const t = this.timesteps[stepIndex]!;
    const isLast = stepIndex === this.timesteps.length - 1;
    const prevT = isLast ? t : this.timesteps[stepIndex + 1]!;
    const a = this.alphas[t]!;
    const ap = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const { cSkip, cOut } = this.boundaryScalings(t);
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const range = this.config.clip_sample_range;
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      let { x0 } = predictOriginal(this.config.prediction_type, x, modelOutput[i]!, sqrtA, sqrtB, this.className);
      if (this.config.clip_sample) x0 = Math.min(range, Math.max(-range, x0));
      denoised[i] = cOut * x0 + cSkip * x;
    }
    if (isLast) return { prevSample: denoised, denoised };
    const z = requireNoise(noise, this.className, sample.length);
    const sa = Math.sqrt(ap);
    const sb = Math.sqrt(1 - ap);
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) prev[i] = sa * denoised[i]! + sb * z[i]!;
    return { prevSample: prev, denoised };
  }
}
