/**
 * EulerDiscreteScheduler (Karras et al. 2022, Algorithm 2 with s_churn = 0), a port of diffusers
 * `scheduling_euler_discrete.py`.
 *
 * σ_t = √((1−ᾱ_t)/ᾱ_t) (float32). set_timesteps: `linspace` = linspace(0, N−1, n, float32)[::-1]
 * (fractional timesteps), `leading` = (arange(n)·(N//n)).round()[::-1] + steps_offset,
 * `trailing` = round(arange(N, 0, −N/n)) − 1; σ_i = interp(t_i, 0…N−1, σ) (linear), or Karras
 * σ's with t recovered by log-σ interpolation; then a final σ of 0 (`final_sigmas_type: zero`)
 * or σ_0 (`sigma_min`). init_noise_sigma = max σ for linspace/trailing, √(max σ² + 1) otherwise.
 * scale_model_input: x/√(σ_i²+1). step: x0 = x − σ_i·ε (epsilon) or
 * −σ/√(σ²+1)·v + x/(σ²+1) (v); x' = x + (x − x0)/σ_i·(σ_{i+1} − σ_i).
 * Not implemented (SD_UNSUPPORTED_CONFIG): s_churn > 0 (a step argument in diffusers, not config),
 * `interpolation_type: log_linear`, exponential/beta sigmas, `timestep_type: continuous`.
 */
import type { AffineStep } from './affine-step.js';
import { f32, interpIndex } from './numeric.js';
import type { Scheduler, SchedulerStepResult } from './scheduler.js';
import { mapPair } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { alphasCumprod, karrasSigmas, sigmaToT, spacedTimesteps, unsupported } from './scheduler-config.js';

/** diffusers' EulerDiscreteScheduler defaults. */
export const EULER_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
} as const satisfies SchedulerConfig;

/** Resolved config of the Euler-family schedulers. */
export type EulerConfig = Omit<SchedulerConfig, keyof typeof EULER_DEFAULTS> & {
  -readonly [K in keyof typeof EULER_DEFAULTS]: (typeof EULER_DEFAULTS)[K] extends null
    ? SchedulerConfig[K]
    : NonNullable<SchedulerConfig[K]>;
};

/** Shared σ schedule of Euler and Euler ancestral. */
export abstract class EulerFamilyScheduler {
  abstract readonly className: 'EulerDiscreteScheduler' | 'EulerAncestralDiscreteScheduler';
  readonly config: EulerConfig;
  timesteps: number[] = [];
  sigmas: number[] = [];
  initNoiseSigma: number;
  /** σ_t for t = 0…N−1 (float32 values). */
  protected readonly fullSigmas: Float64Array;

  constructor(config: SchedulerConfig, who: string, allowKarras: boolean) {
    this.config = { ...EULER_DEFAULTS, ...config } as EulerConfig;
    const c = this.config;
    if (c.interpolation_type !== 'linear') unsupported(who, 'interpolation_type', c.interpolation_type, 'linear');
    if (c.use_exponential_sigmas) unsupported(who, 'use_exponential_sigmas', true, 'false');
    if (c.use_beta_sigmas) unsupported(who, 'use_beta_sigmas', true, 'false');
    if (c.use_karras_sigmas && !allowKarras) unsupported(who, 'use_karras_sigmas', true, 'false');
    if (c.timestep_type !== 'discrete') unsupported(who, 'timestep_type', c.timestep_type, 'discrete');
    if (!['epsilon', 'v_prediction'].includes(c.prediction_type)) {
      unsupported(who, 'prediction_type', c.prediction_type, 'epsilon, v_prediction');
    }
    const ac = alphasCumprod(c);
    if (c.rescale_betas_zero_snr) ac[ac.length - 1] = 2 ** -24;
    this.fullSigmas = ac.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
    this.initNoiseSigma = f32(Math.sqrt(this.fullSigmas[this.fullSigmas.length - 1]! ** 2 + 1));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const spacing = c.timestep_spacing;
    let ts = spacedTimesteps(spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset).map(f32);
    let sig = ts.map((t) => interpIndex(t, this.fullSigmas));
    if (c.use_karras_sigmas) {
      const logSigmas = this.fullSigmas.map(Math.log);
      sig = karrasSigmas(c.sigma_min ?? sig[sig.length - 1]!, c.sigma_max ?? sig[0]!, numInferenceSteps);
      ts = sig.map((s) => f32(sigmaToT(s, logSigmas)));
    }
    const last = c.final_sigmas_type === 'sigma_min' ? this.fullSigmas[0]! : 0;
    this.sigmas = [...sig, last].map(f32);
    this.timesteps = ts;
    const maxSigma = Math.max(...this.sigmas);
    this.initNoiseSigma =
      spacing === 'linspace' || spacing === 'trailing' ? maxSigma : f32(Math.sqrt(maxSigma * maxSigma + 1));
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    const s = this.sigmas[stepIndex]!;
    const d = Math.sqrt(s * s + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! / d;
    return out;
  }

  /** The factor of `scaleModelInput` at `stepIndex`: 1/√(σ_i² + 1). */
  inputScale(stepIndex: number): number {
    const s = this.sigmas[stepIndex]!;
    return 1 / Math.sqrt(s * s + 1);
  }

  /** x0 = a·x + b·m at σ (the coefficients of {@link predictX0}). */
  protected x0Coefficients(sigma: number): { a: number; b: number } {
    if (this.config.prediction_type === 'epsilon') return { a: 1, b: -sigma };
    return { a: 1 / (sigma * sigma + 1), b: -sigma / Math.sqrt(sigma * sigma + 1) };
  }

  /** x' = x + (x − x0)/σ·dt (+ noise·z) as an affine plan. */
  protected eulerPlan(sigma: number, dt: number, noise?: number): AffineStep {
    const { a, b } = this.x0Coefficients(sigma);
    return {
      next: { sample: 1 + ((1 - a) * dt) / sigma, model: (-b * dt) / sigma, ...(noise !== undefined ? { noise } : {}) },
      store: {},
      keep: [],
    };
  }

  /** x0 from the model output at σ. */
  protected predictX0(x: number, m: number, sigma: number): number {
    if (this.config.prediction_type === 'epsilon') return x - sigma * m;
    return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
  }
}

/** Euler sampler (diffusers `EulerDiscreteScheduler`). */
export class EulerDiscreteScheduler extends EulerFamilyScheduler implements Scheduler {
  readonly className = 'EulerDiscreteScheduler' as const;
  readonly stochastic = false;

  constructor(config: SchedulerConfig = {}) {
    super(config, 'EulerDiscreteScheduler', true);
  }

  /** The step at `stepIndex` as an affine plan: x' = (1 + (1 − a)·dt/σ)·x − b·dt/σ·m for x0 = a·x + b·m. */
  affineStep(stepIndex: number): AffineStep {
    const sigma = this.sigmas[stepIndex]!;
    return this.eulerPlan(sigma, this.sigmas[stepIndex + 1]! - sigma);
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): SchedulerStepResult {
    const sigma = this.sigmas[stepIndex]!;
    const dt = this.sigmas[stepIndex + 1]! - sigma;
    return {
      prevSample: mapPair(sample, modelOutput, (x, m) => {
        const x0 = this.predictX0(x, m, sigma);
        return x + ((x - x0) / sigma) * dt;
      }),
    };
  }
}
