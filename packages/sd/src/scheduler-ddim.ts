/**
 * DDIMScheduler (Song et al. 2021), a port of diffusers `scheduling_ddim.py`.
 *
 * set_timesteps: `leading` = (arange(n)·(N//n)).round()[::-1] + steps_offset; `trailing` =
 * round(arange(N, 0, −N/n)) − 1; `linspace` = linspace(0, N−1, n).round()[::-1] (int64).
 * step (η ≥ 0), with t' = t − N//n (diffusers uses N//n for every spacing):
 *   x0 = (x − √(1−ᾱ_t)·ε)/√ᾱ_t   (epsilon; v/sample analogues)   [clipped if clip_sample]
 *   σ_t = η·√((1−ᾱ_t')/(1−ᾱ_t)·(1−ᾱ_t/ᾱ_t'))
 *   x_t' = √ᾱ_t'·x0 + √(1−ᾱ_t'−σ_t²)·ε̂ (+ σ_t·z)
 * ᾱ for t' < 0 is `final_alpha_cumprod` (1 if set_alpha_to_one else ᾱ_0).
 * Not implemented (SD_UNSUPPORTED_CONFIG): `thresholding` (dynamic thresholding, unsuitable for
 * latent diffusion per diffusers' own docs).
 */
import type { AffineStep } from './affine-step.js';
import { combineTerms, MODEL, SAMPLE } from './affine-step.js';
import { roundHalfEven } from './numeric.js';
import type { NoiseSource, Scheduler, SchedulerStepResult } from './scheduler.js';
import { requireNoise } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { alphasCumprod, spacedTimesteps, unsupported } from './scheduler-config.js';

/** diffusers' DDIMScheduler defaults. */
export const DDIM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1,
  sample_max_value: 1,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
} as const satisfies SchedulerConfig;

type DdimConfig = Omit<SchedulerConfig, keyof typeof DDIM_DEFAULTS> & {
  -readonly [K in keyof typeof DDIM_DEFAULTS]: NonNullable<SchedulerConfig[K]>;
};

/** x0 and ε̂ from the model output for a DDPM-family parameterisation. */
export function predictOriginal(
  predictionType: string,
  x: number,
  m: number,
  sqrtAlpha: number,
  sqrtOneMinusAlpha: number,
  who: string,
): { x0: number; eps: number } {
  if (predictionType === 'epsilon') return { x0: (x - sqrtOneMinusAlpha * m) / sqrtAlpha, eps: m };
  if (predictionType === 'sample') return { x0: m, eps: (x - sqrtAlpha * m) / sqrtOneMinusAlpha };
  if (predictionType === 'v_prediction') {
    return { x0: sqrtAlpha * x - sqrtOneMinusAlpha * m, eps: sqrtAlpha * m + sqrtOneMinusAlpha * x };
  }
  return unsupported(who, 'prediction_type', predictionType, 'epsilon, sample, v_prediction');
}

/**
 * The coefficients of {@link predictOriginal}: x0 = x0.sample·x + x0.model·m and likewise ε̂
 * (each parameterisation is linear in x and m).
 */
export function predictOriginalCoefficients(
  predictionType: string,
  sqrtAlpha: number,
  sqrtOneMinusAlpha: number,
  who: string,
): { x0: { sample: number; model: number }; eps: { sample: number; model: number } } {
  if (predictionType === 'epsilon') return { x0: { sample: 1 / sqrtAlpha, model: -sqrtOneMinusAlpha / sqrtAlpha }, eps: { sample: 0, model: 1 } };
  if (predictionType === 'sample') return { x0: { sample: 0, model: 1 }, eps: { sample: 1 / sqrtOneMinusAlpha, model: -sqrtAlpha / sqrtOneMinusAlpha } };
  if (predictionType === 'v_prediction') {
    return { x0: { sample: sqrtAlpha, model: -sqrtOneMinusAlpha }, eps: { sample: sqrtOneMinusAlpha, model: sqrtAlpha } };
  }
  return unsupported(who, 'prediction_type', predictionType, 'epsilon, sample, v_prediction');
}

/** DDIM sampler (diffusers `DDIMScheduler`). */
export class DDIMScheduler implements Scheduler {
  readonly className = 'DDIMScheduler' as const;
  readonly config: DdimConfig;
  readonly sigmas = undefined;
  readonly initNoiseSigma = 1;
  /** Extra noise scale η (0 = deterministic DDIM; diffusers' `eta` step argument). */
  eta = 0;
  timesteps: number[] = [];
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;
  private numSteps = 0;

  constructor(config: SchedulerConfig = {}) {
    this.config = { ...DDIM_DEFAULTS, ...config } as DdimConfig;
    if (this.config.thresholding) unsupported(this.className, 'thresholding', true, 'false');
    this.alphas = alphasCumprod(this.config);
    this.finalAlpha = this.config.set_alpha_to_one ? 1 : this.alphas[0]!;
  }

  get stochastic(): boolean {
    return this.eta > 0;
  }

  setTimesteps(numInferenceSteps: number): void {
    const n = this.config.num_train_timesteps;
    if (numInferenceSteps > n) {
      throw new RangeError(`DDIMScheduler: ${numInferenceSteps} steps exceed num_train_timesteps ${n}`);
    }
    this.numSteps = numInferenceSteps;
    this.timesteps = spacedTimesteps(this.config.timestep_spacing, n, numInferenceSteps, this.config.steps_offset).map(
      (t) => (this.config.timestep_spacing === 'linspace' ? roundHalfEven(t) : t),
    );
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** Scalars of the step at `stepIndex`. */
  private coefficients(stepIndex: number): { sqrtA: number; sqrtB: number; std: number; dirCoef: number; sqrtAPrev: number } {
    const t = this.timesteps[stepIndex]!;
    const prevT = t - Math.floor(this.config.num_train_timesteps / this.numSteps);
    const aT = this.alphas[t]!;
    const aPrev = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = this.eta * Math.sqrt(variance);
    return { sqrtA: Math.sqrt(aT), sqrtB: Math.sqrt(1 - aT), std, dirCoef: Math.sqrt(1 - aPrev - std * std), sqrtAPrev: Math.sqrt(aPrev) };
  }

  /** Every DDIM input is unscaled. */
  inputScale(): number {
    return 1;
  }

  /**
   * The step at `stepIndex` as an affine plan: x' = √ᾱ'·x0 + dir·ε̂ (+ σ_t·z when η > 0); undefined
   * with `clip_sample` (clipping x0 is not affine: that configuration stays on the host).
   */
  affineStep(stepIndex: number): AffineStep | undefined {
    if (this.config.clip_sample) return undefined;
    const { sqrtA, sqrtB, std, dirCoef, sqrtAPrev } = this.coefficients(stepIndex);
    const { x0, eps } = predictOriginalCoefficients(this.config.prediction_type, sqrtA, sqrtB, this.className);
    const next = combineTerms([SAMPLE, sqrtAPrev * x0.sample + dirCoef * eps.sample], [MODEL, sqrtAPrev * x0.model + dirCoef * eps.model]);
    return { next: std > 0 ? { ...next, noise: std } : next, store: {}, keep: [] };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult {
    const { sqrtA, sqrtB, std, dirCoef, sqrtAPrev } = this.coefficients(stepIndex);
    const clip = this.config.clip_sample;
    const range = this.config.clip_sample_range;
    const z = std > 0 ? requireNoise(noise, this.className, sample.length) : undefined;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      let { x0, eps } = predictOriginal(this.config.prediction_type, x, modelOutput[i]!, sqrtA, sqrtB, this.className);
      if (clip) {
        x0 = Math.min(range, Math.max(-range, x0));
        eps = (x - sqrtA * x0) / sqrtB;
      }
      out[i] = sqrtAPrev * x0 + dirCoef * eps + (z ? std * z[i]! : 0);
    }
    return { prevSample: out };
  }
}
