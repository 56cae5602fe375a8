/**
 * PNDMScheduler in its PLMS form (`skip_prk_steps: true`, what every Stable Diffusion config
 * sets), a port of diffusers `scheduling_pndm.py` (Liu et al. 2022, pseudo linear multi-step).
 *
 * set_timesteps (ascending `_timesteps`): leading = (arange(n)·(N//n)).round() + steps_offset;
 * trailing = round(arange(N, 0, −N/n))[::-1] − 1; linspace = linspace(0, N−1, n).round().
 * PLMS timesteps = concat(ts[:−1], ts[−2:−1], ts[−1:])[::-1]: n + 1 denoiser calls (the second
 * timestep repeats). The step combines stored ε's with Adams–Bashforth weights
 * (1), ((ε+ε₋₁)/2 on the repeated step), (3,−1)/2, (23,−16,5)/12, (55,−59,37,−9)/24, then
 *   x_prev = √(ᾱ'/ᾱ)·x − (ᾱ' − ᾱ)·ε / (ᾱ·√(1−ᾱ') + √(ᾱ(1−ᾱ)ᾱ'))
 * Not implemented: the Runge–Kutta warm-up (`skip_prk_steps: false`, SD_UNSUPPORTED_CONFIG).
 */
import type { AffineStep, AffineTerms } from './affine-step.js';
import { combineTerms, MODEL, SAMPLE, slotTerms } from './affine-step.js';
import { roundHalfEven } from './numeric.js';
import type { Scheduler, SchedulerStepResult } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { alphasCumprod, spacedTimesteps, unsupported } from './scheduler-config.js';

/** diffusers' PNDMScheduler defaults. */
export const PNDM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
} as const satisfies SchedulerConfig;

type PndmConfig = Omit<SchedulerConfig, keyof typeof PNDM_DEFAULTS> & {
  -readonly [K in keyof typeof PNDM_DEFAULTS]: NonNullable<SchedulerConfig[K]>;
};

/** PLMS sampler (diffusers `PNDMScheduler` with `skip_prk_steps`). */
export class PNDMScheduler implements Scheduler {
  readonly className = 'PNDMScheduler' as const;
  readonly config: PndmConfig;
  readonly sigmas = undefined;
  readonly initNoiseSigma = 1;
  readonly stochastic = false;
  timesteps: number[] = [];
  private readonly alphas: Float64Array;
  private readonly finalAlpha: number;
  private numSteps = 0;
  private ets: Float32Array[] = [];
  private counter = 0;
  private curSample: Float32Array | undefined;

  constructor(config: SchedulerConfig = {}) {
    this.config = { ...PNDM_DEFAULTS, ...config } as PndmConfig;
    if (!this.config.skip_prk_steps) {
      unsupported(this.className, 'skip_prk_steps', false, 'true (PLMS only; every Stable Diffusion config sets it)');
    }
    if (!['epsilon', 'v_prediction'].includes(this.config.prediction_type)) {
      unsupported(this.className, 'prediction_type', this.config.prediction_type, 'epsilon, v_prediction');
    }
    this.alphas = alphasCumprod(this.config);
    this.finalAlpha = this.config.set_alpha_to_one ? 1 : this.alphas[0]!;
  }

  setTimesteps(numInferenceSteps: number): void {
    const n = this.config.num_train_timesteps;
    this.numSteps = numInferenceSteps;
    const spacing = this.config.timestep_spacing;
    const asc = spacedTimesteps(spacing, n, numInferenceSteps, this.config.steps_offset)
      .map((t) => (spacing === 'linspace' ? roundHalfEven(t) : t))
      .reverse();
    const plms = [...asc.slice(0, -1), ...asc.slice(-2, -1), ...asc.slice(-1)];
    this.timesteps = plms.reverse();
    this.ets = [];
    this.counter = 0;
    this.curSample = undefined;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** Every PLMS input is unscaled. */
  inputScale(): number {
    return 1;
  }

  /**
   * The step at `stepIndex` as an affine plan. The JS step's state is a function of the index:
   * the counter equals it, ε's are pushed at every step but the second (slots `eps<i>`), the
   * window is the last four, and the first sample is kept for the second step (slot `cur`).
   */
  affineStep(stepIndex: number): AffineStep {
    const i = stepIndex;
    const last = i === this.timesteps.length - 1;
    let t = this.timesteps[i]!;
    const ratio = Math.floor(this.config.num_train_timesteps / this.numSteps);
    let prevT = t - ratio;
    if (i === 1) {
      prevT = t;
      t = t + ratio;
    }
    // indices of the stored ε's after this step's push: 0, 2, 3, …, i (last four)
    const pushed = i === 1 ? [0] : [0, ...Array.from({ length: Math.max(0, i - 1) }, (_, k) => k + 2)].slice(-4);
    const term = (j: number): AffineTerms => (j === i ? MODEL : slotTerms(`eps${j}`));
    let eps: AffineTerms;
    let x: AffineTerms = SAMPLE;
    if (i === 0) eps = MODEL;
    else if (i === 1) {
      eps = combineTerms([MODEL, 0.5], [slotTerms('eps0'), 0.5]);
      x = slotTerms('cur');
    } else {
      const weights = [[], [], [-1 / 2, 3 / 2], [5 / 12, -16 / 12, 23 / 12], [-9 / 24, 37 / 24, -59 / 24, 55 / 24]][pushed.length]!;
      eps = combineTerms(...pushed.map((j, k) => [term(j), weights[k]!] as const));
    }
    const a = this.alphas[t]!;
    const ap = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const b = 1 - a;
    const k = (ap - a) / (a * Math.sqrt(1 - ap) + Math.sqrt(a * b * ap));
    const m = this.config.prediction_type === 'v_prediction' ? combineTerms([eps, Math.sqrt(a)], [x, Math.sqrt(b)]) : eps;
    const next = combineTerms([x, Math.sqrt(ap / a)], [m, -k]);
    if (last) return { next, store: {}, keep: [] };
    const store: Record<string, { sample?: number; model?: number }> = {};
    if (i !== 1) store[`eps${i}`] = { model: 1 };
    if (i === 0) store['cur'] = { sample: 1 };
    const keep = pushed.slice(-3).map((j) => `eps${j}`);
    if (i === 0) keep.push('cur');
    return { next, store, keep };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): SchedulerStepResult {
    let t = this.timesteps[stepIndex]!;
    const ratio = Math.floor(this.config.num_train_timesteps / this.numSteps);
    let prevT = t - ratio;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput);
    } else {
      prevT = t;
      t = t + ratio;
    }
    let eps: Float32Array;
    let x = sample;
    const e = this.ets;
    const k = e.length;
    if (k === 1 && this.counter === 0) {
      eps = modelOutput;
      this.curSample = sample;
    } else if (k === 1 && this.counter === 1) {
      const last = e[0]!;
      eps = combine([modelOutput, last], [0.5, 0.5]);
      x = this.curSample ?? sample;
      this.curSample = undefined;
    } else if (k === 2) {
      eps = combine([e[1]!, e[0]!], [3 / 2, -1 / 2]);
    } else if (k === 3) {
      eps = combine([e[2]!, e[1]!, e[0]!], [23 / 12, -16 / 12, 5 / 12]);
    } else {
      eps = combine([e[3]!, e[2]!, e[1]!, e[0]!], [55 / 24, -59 / 24, 37 / 24, -9 / 24]);
    }
    const prev = this.prevSample(x, t, prevT, eps);
    this.counter++;
    return { prevSample: prev };
  }

  private prevSample(x: Float32Array, t: number, prevT: number, eps: Float32Array): Float32Array {
    const a = this.alphas[t]!;
    const ap = prevT >= 0 ? this.alphas[prevT]! : this.finalAlpha;
    const b = 1 - a;
    const bp = 1 - ap;
    const sampleCoeff = Math.sqrt(ap / a);
    const denom = a * Math.sqrt(bp) + Math.sqrt(a * b * ap);
    const v = this.config.prediction_type === 'v_prediction';
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const m = v ? Math.sqrt(a) * eps[i]! + Math.sqrt(b) * x[i]! : eps[i]!;
      out[i] = sampleCoeff * x[i]! - ((ap - a) * m) / denom;
    }
    return out;
  }
}

/** Σ w_k·a_k elementwise (float64 accumulation, stored as float32). */
function combine(arrays: Float32Array[], weights: number[]): Float32Array {
  const out = new Float32Array(arrays[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let k = 0; k < arrays.length; k++) s += weights[k]! * arrays[k]![i]!;
    out[i] = s;
  }
  return out;
}
