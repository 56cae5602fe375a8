/**
 * FlowMatchEulerDiscreteScheduler (rectified flow, SD3), a port of diffusers
 * `scheduling_flow_match_euler_discrete.py`.
 *
 * __init__: σ = linspace(1, N, N, float32)[::-1]/N, shifted (unless use_dynamic_shifting) by
 * σ ← s·σ/(1 + (s−1)·σ); σ_max = σ[0], σ_min = σ[−1].
 * set_timesteps(n): t = linspace(σ_max·N, σ_min·N, n); σ = t/N; shifted again with `shift`, or
 * with μ (`use_dynamic_shifting`): exponential e^μ/(e^μ + (1/σ − 1)), linear μ/(μ + (1/σ − 1));
 * optional `shift_terminal` stretch 1 − (1−σ)/((1−σ_last)/(1−shift_terminal)); timesteps = σ·N
 * (float32); σ gets a final 0 (or σ ← 1−σ and a final 1 with `invert_sigmas`).
 * step: x' = x + (σ_{i+1} − σ_i)·v; with `stochastic_sampling`, x0 = x − σ_i·v and
 * x' = (1 − σ_{i+1})·x0 + σ_{i+1}·z. init_noise_sigma = 1; no input scaling.
 * Not implemented (SD_UNSUPPORTED_CONFIG): Karras/exponential/beta sigmas.
 */
import type { AffineStep } from './affine-step.js';
import { f32, linspace } from './numeric.js';
import type { NoiseSource, Scheduler, SchedulerStepResult, SetTimestepsOptions } from './scheduler.js';
import { mapPair, requireNoise } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { unsupported } from './scheduler-config.js';

/** diffusers' FlowMatchEulerDiscreteScheduler defaults. */
export const FLOW_MATCH_DEFAULTS = {
  num_train_timesteps: 1000,
  shift: 1,
  use_dynamic_shifting: false,
  base_shift: 0.5,
  max_shift: 1.15,
  base_image_seq_len: 256,
  max_image_seq_len: 4096,
  invert_sigmas: false,
  shift_terminal: null,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  time_shift_type: 'exponential',
  stochastic_sampling: false,
} as const satisfies SchedulerConfig;

type FlowConfig = Omit<SchedulerConfig, keyof typeof FLOW_MATCH_DEFAULTS> & {
  -readonly [K in keyof typeof FLOW_MATCH_DEFAULTS]: (typeof FLOW_MATCH_DEFAULTS)[K] extends null
    ? SchedulerConfig[K]
    : NonNullable<SchedulerConfig[K]>;
};

/**
 * μ for resolution-dependent shifting (diffusers' SD3/Flux `calculate_shift`): linear in the
 * number of latent patches between (base_seq, base_shift) and (max_seq, max_shift).
 */
export function calculateShift(
  imageSeqLen: number,
  baseSeqLen = 256,
  maxSeqLen = 4096,
  baseShift = 0.5,
  maxShift = 1.15,
): number {
  const m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
  const b = baseShift - m * baseSeqLen;
  return imageSeqLen * m + b;
}

/** Flow-matching Euler sampler (diffusers `FlowMatchEulerDiscreteScheduler`). */
export class FlowMatchEulerDiscreteScheduler implements Scheduler {
  readonly className = 'FlowMatchEulerDiscreteScheduler' as const;
  readonly config: FlowConfig;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  sigmas: number[] = [];
  private readonly sigmaMin: number;
  private readonly sigmaMax: number;

  constructor(config: SchedulerConfig = {}) {
    const who = 'FlowMatchEulerDiscreteScheduler';
    this.config = { ...FLOW_MATCH_DEFAULTS, ...config } as FlowConfig;
    const c = this.config;
    if (c.use_karras_sigmas) unsupported(who, 'use_karras_sigmas', true, 'false');
    if (c.use_exponential_sigmas) unsupported(who, 'use_exponential_sigmas', true, 'false');
    if (c.use_beta_sigmas) unsupported(who, 'use_beta_sigmas', true, 'false');
    const n = c.num_train_timesteps;
    const shiftF32 = (s: number): number => f32(f32(c.shift * s) / f32(1 + f32((c.shift - 1) * s)));
    const first = f32(n / n);
    const last = f32(1 / n);
    this.sigmaMax = c.use_dynamic_shifting ? first : shiftF32(first);
    this.sigmaMin = c.use_dynamic_shifting ? last : shiftF32(last);
  }

  get stochastic(): boolean {
    return this.config.stochastic_sampling;
  }

  setTimesteps(numInferenceSteps: number, options: SetTimestepsOptions = {}): void {
    const c = this.config;
    const n = c.num_train_timesteps;
    let sig = linspace(this.sigmaMax * n, this.sigmaMin * n, numInferenceSteps).map((t) => t / n);
    if (c.use_dynamic_shifting) {
      const mu = options.mu;
      if (mu === undefined) {
        throw new RangeError('FlowMatchEulerDiscreteScheduler: use_dynamic_shifting needs mu (see calculateShift)');
      }
      sig =
        c.time_shift_type === 'exponential'
          ? sig.map((s) => Math.exp(mu) / (Math.exp(mu) + (1 / s - 1)))
          : sig.map((s) => mu / (mu + (1 / s - 1)));
    } else {
      sig = sig.map((s) => (c.shift * s) / (1 + (c.shift - 1) * s));
    }
    if (c.shift_terminal) {
      const scaleFactor = (1 - sig[sig.length - 1]!) / (1 - c.shift_terminal);
      sig = sig.map((s) => 1 - (1 - s) / scaleFactor);
    }
    let s32 = sig.map(f32);
    if (c.invert_sigmas) {
      s32 = s32.map((s) => f32(1 - s));
      this.timesteps = s32.map((s) => f32(s * n));
      this.sigmas = [...s32, 1];
    } else {
      this.timesteps = s32.map((s) => f32(s * n));
      this.sigmas = [...s32, 0];
    }
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** Every flow-matching input is unscaled. */
  inputScale(): number {
    return 1;
  }

  /**
   * The step at `stepIndex` as an affine plan: x' = x + (σ' − σ)·v, or with `stochastic_sampling`
   * x' = (1 − σ')·(x − σ·v) + σ'·z.
   */
  affineStep(stepIndex: number): AffineStep {
    const sigma = this.sigmas[stepIndex]!;
    const next = this.sigmas[stepIndex + 1]!;
    if (this.config.stochastic_sampling) return { next: { sample: 1 - next, model: -(1 - next) * sigma, noise: next }, store: {}, keep: [] };
    return { next: { sample: 1, model: next - sigma }, store: {}, keep: [] };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult {
    const sigma = this.sigmas[stepIndex]!;
    const next = this.sigmas[stepIndex + 1]!;
    if (this.config.stochastic_sampling) {
      const z = requireNoise(noise, this.className, sample.length);
      const out = new Float32Array(sample.length);
      for (let i = 0; i < sample.length; i++) {
        const x0 = sample[i]! - sigma * modelOutput[i]!;
        out[i] = (1 - next) * x0 + next * z[i]!;
      }
      return { prevSample: out };
    }
    const dt = next - sigma;
    return { prevSample: mapPair(sample, modelOutput, (x, v) => x + dt * v) };
  }
}
