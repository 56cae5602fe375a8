/**
 * DPMSolverMultistepScheduler (DPM-Solver++ 2M by default; Lu et al. 2022), a port of diffusers
 * `scheduling_dpmsolver_multistep.py`.
 *
 * set_timesteps (integer): `linspace` = linspace(0, T−1, n+1).round()[::-1][:−1]; `leading` =
 * (arange(n+1)·(T//(n+1))).round()[::-1][:−1] + steps_offset; `trailing` = round(arange(T, 0,
 * −N/n)) − 1, where T = N − #{λ_t < lambda_min_clipped}. σ_i = interp(t_i, σ) or Karras (t from
 * log-σ interpolation, rounded); final σ = 0 (`zero`) or σ_0. init_noise_sigma = 1, no input
 * scaling. With α = 1/√(σ²+1), σ̄ = σ·α, λ = log α − log σ̄, h = λ_t − λ_s:
 *   model output → x0 (dpmsolver++) or ε (dpmsolver) by `prediction_type`;
 *   1st order (++): x_t = σ̄_t/σ̄_s·x − α_t(e^{−h} − 1)·D0;
 *   2nd order midpoint (++): … − ½α_t(e^{−h} − 1)·D1, D1 = (m0 − m1)/r0, r0 = h0/h (heun variant too);
 *   3rd order and the `dpmsolver`/SDE variants as in diffusers.
 * Lower orders are used for the first steps, and on the final step(s) when `lower_order_final` and
 * fewer than 15 steps, or always on the last step with `final_sigmas_type: zero` / `euler_at_final`.
 * Not implemented (SD_UNSUPPORTED_CONFIG): thresholding, learned variance, Lu lambdas,
 * exponential/beta/flow sigmas.
 */
import type { AffineStep, AffineTerms } from './affine-step.js';
import { combineTerms, SAMPLE, slotTerms } from './affine-step.js';
import { arange, f32, interpIndex, linspace, roundHalfEven } from './numeric.js';
import type { NoiseSource, Scheduler, SchedulerStepResult } from './scheduler.js';
import { requireNoise } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { alphasCumprod, karrasSigmas, sigmaToT, unsupported } from './scheduler-config.js';

/** diffusers' DPMSolverMultistepScheduler defaults. */
export const DPM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  final_sigmas_type: 'zero',
  lambda_min_clipped: Number.NEGATIVE_INFINITY,
  variance_type: null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
} as const satisfies SchedulerConfig;

type DpmConfig = Omit<SchedulerConfig, keyof typeof DPM_DEFAULTS> & {
  -readonly [K in keyof typeof DPM_DEFAULTS]: (typeof DPM_DEFAULTS)[K] extends null
    ? SchedulerConfig[K]
    : NonNullable<SchedulerConfig[K]>;
};

/** DPM-Solver(++) multistep sampler (diffusers `DPMSolverMultistepScheduler`). */
export class DPMSolverMultistepScheduler implements Scheduler {
  readonly className = 'DPMSolverMultistepScheduler' as const;
  readonly config: DpmConfig;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  sigmas: number[] = [];
  private readonly alphas: Float64Array;
  private readonly fullSigmas: Float64Array;
  private modelOutputs: (Float32Array | undefined)[] = [];
  private lowerOrderNums = 0;

  constructor(config: SchedulerConfig = {}) {
    const who = 'DPMSolverMultistepScheduler';
    this.config = { ...DPM_DEFAULTS, ...config } as DpmConfig;
    const c = this.config;
    if (c.algorithm_type === 'deis') c.algorithm_type = 'dpmsolver++';
    if (c.solver_type === 'logrho' || c.solver_type === 'bh1' || c.solver_type === 'bh2') c.solver_type = 'midpoint';
    if (c.thresholding) unsupported(who, 'thresholding', true, 'false');
    if (c.variance_type) unsupported(who, 'variance_type', c.variance_type, 'null');
    if (c.use_lu_lambdas) unsupported(who, 'use_lu_lambdas', true, 'false');
    if (c.use_exponential_sigmas) unsupported(who, 'use_exponential_sigmas', true, 'false');
    if (c.use_beta_sigmas) unsupported(who, 'use_beta_sigmas', true, 'false');
    if (c.use_flow_sigmas) unsupported(who, 'use_flow_sigmas', true, 'false');
    if (!['epsilon', 'v_prediction', 'sample'].includes(c.prediction_type)) {
      unsupported(who, 'prediction_type', c.prediction_type, 'epsilon, v_prediction, sample');
    }
    if (!c.algorithm_type.endsWith('dpmsolver++') && c.final_sigmas_type === 'zero') {
      unsupported(who, 'final_sigmas_type', 'zero', `sigma_min with algorithm_type ${c.algorithm_type}`);
    }
    if (c.solver_order === 3 && c.algorithm_type.startsWith('sde-')) {
      unsupported(who, 'solver_order', 3, `1 or 2 with algorithm_type ${c.algorithm_type}`);
    }
    this.alphas = alphasCumprod(c);
    if (c.rescale_betas_zero_snr) this.alphas[this.alphas.length - 1] = 2 ** -24;
    this.fullSigmas = this.alphas.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
  }

  get stochastic(): boolean {
    return this.config.algorithm_type.startsWith('sde-');
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const n = numInferenceSteps;
    let clipped = 0;
    for (const a of this.alphas) {
      const lambda = Math.log(Math.sqrt(a)) - Math.log(Math.sqrt(1 - a));
      if (lambda < c.lambda_min_clipped) clipped++;
    }
    const last = c.num_train_timesteps - clipped;
    let ts: number[];
    if (c.timestep_spacing === 'linspace') {
      ts = linspace(0, last - 1, n + 1).map(roundHalfEven).reverse().slice(0, -1);
    } else if (c.timestep_spacing === 'leading') {
      const ratio = Math.floor(last / (n + 1));
      ts = [];
      for (let i = n; i >= 1; i--) ts.push(i * ratio + c.steps_offset);
    } else {
      ts = arange(last, 0, -c.num_train_timesteps / n).map((t) => roundHalfEven(t) - 1);
    }
    let sig: number[];
    if (c.use_karras_sigmas) {
      const logSigmas = this.fullSigmas.map(Math.log);
      sig = karrasSigmas(this.fullSigmas[0]!, this.fullSigmas[this.fullSigmas.length - 1]!, n);
      ts = sig.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
    } else {
      sig = ts.map((t) => interpIndex(t, this.fullSigmas));
    }
    const lastSigma = c.final_sigmas_type === 'sigma_min' ? this.fullSigmas[0]! : 0;
    this.sigmas = [...sig, lastSigma].map(f32);
    this.timesteps = ts;
    this.modelOutputs = new Array<Float32Array | undefined>(c.solver_order).fill(undefined);
    this.lowerOrderNums = 0;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  private alphaSigma(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    const sigmaT = sigma * alpha;
    return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
  }

  private convertModelOutput(m: Float32Array, x: Float32Array, stepIndex: number): Float32Array {
    const c = this.config;
    const { alpha, sigmaT } = this.alphaSigma(this.sigmas[stepIndex]!);
    const out = new Float32Array(m.length);
    const dataPrediction = c.algorithm_type.endsWith('dpmsolver++');
    for (let i = 0; i < m.length; i++) {
      const mi = m[i]!;
      const xi = x[i]!;
      if (dataPrediction) {
        out[i] =
          c.prediction_type === 'epsilon'
            ? (xi - sigmaT * mi) / alpha
            : c.prediction_type === 'sample'
              ? mi
              : alpha * xi - sigmaT * mi;
      } else {
        out[i] =
          c.prediction_type === 'epsilon'
            ? mi
            : c.prediction_type === 'sample'
              ? (xi - alpha * mi) / sigmaT
              : alpha * mi + sigmaT * xi;
      }
    }
    return out;
  }

  /** Every DPM-Solver input is unscaled. */
  inputScale(): number {
    return 1;
  }

  /** The converted model output (x0 for dpmsolver++, ε otherwise) at `stepIndex` as p·x + q·m. */
  private convertedTerms(stepIndex: number): { sample: number; model: number } {
    const c = this.config;
    const { alpha, sigmaT } = this.alphaSigma(this.sigmas[stepIndex]!);
    if (c.algorithm_type.endsWith('dpmsolver++')) {
      if (c.prediction_type === 'epsilon') return { sample: 1 / alpha, model: -sigmaT / alpha };
      return c.prediction_type === 'sample' ? { sample: 0, model: 1 } : { sample: alpha, model: -sigmaT };
    }
    if (c.prediction_type === 'epsilon') return { sample: 0, model: 1 };
    return c.prediction_type === 'sample' ? { sample: 1 / sigmaT, model: -alpha / sigmaT } : { sample: sigmaT, model: alpha };
  }

  /**
   * The step at `stepIndex` as an affine plan. The JS step's state is a function of the index
   * (lower-order warm-up count = min(i, solver_order)); converted outputs are stored as `d<i>`
   * while a later higher-order step reads them. SDE variants draw noise at every step, as `step`.
   */
  affineStep(stepIndex: number): AffineStep {
    const c = this.config;
    const i = stepIndex;
    const len = this.timesteps.length;
    const lowerOrderNums = Math.min(i, c.solver_order);
    const lowerOrderFinal = i === len - 1 && (c.euler_at_final || (c.lower_order_final && len < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = i === len - 2 && c.lower_order_final && len < 15;
    const conv = this.convertedTerms(i);
    const m0: AffineTerms = conv;
    const type = c.algorithm_type;
    const midpoint = c.solver_type === 'midpoint';
    const t = this.alphaSigma(this.sigmas[i + 1]!);
    const s0 = this.alphaSigma(this.sigmas[i]!);
    const h = t.lambda - s0.lambda;
    const eh = Math.exp(-h);
    const ehp = Math.exp(h);
    let next: AffineTerms;
    if (c.solver_order === 1 || lowerOrderNums < 1 || lowerOrderFinal) {
      if (type === 'dpmsolver++') next = combineTerms([SAMPLE, t.sigmaT / s0.sigmaT], [m0, -t.alpha * (eh - 1)]);
      else if (type === 'dpmsolver') next = combineTerms([SAMPLE, t.alpha / s0.alpha], [m0, -t.sigmaT * (ehp - 1)]);
      else if (type === 'sde-dpmsolver++') {
        next = combineTerms([SAMPLE, (t.sigmaT / s0.sigmaT) * eh], [m0, t.alpha * (1 - Math.exp(-2 * h))], [{ noise: 1 }, t.sigmaT * Math.sqrt(1 - Math.exp(-2 * h))]);
      } else {
        next = combineTerms([SAMPLE, t.alpha / s0.alpha], [m0, -2 * (t.sigmaT * (ehp - 1))], [{ noise: 1 }, t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1)]);
      }
    } else if (c.solver_order === 2 || lowerOrderNums < 2 || lowerOrderSecond) {
      const s1 = this.alphaSigma(this.sigmas[i - 1]!);
      const r0 = (s0.lambda - s1.lambda) / h;
      const d1 = combineTerms([m0, 1 / r0], [slotTerms(`d${i - 1}`), -1 / r0]);
      if (type === 'dpmsolver++') {
        next = midpoint
          ? combineTerms([SAMPLE, t.sigmaT / s0.sigmaT], [m0, -t.alpha * (eh - 1)], [d1, -0.5 * (t.alpha * (eh - 1))])
          : combineTerms([SAMPLE, t.sigmaT / s0.sigmaT], [m0, -t.alpha * (eh - 1)], [d1, t.alpha * ((eh - 1) / h + 1)]);
      } else if (type === 'dpmsolver') {
        next = midpoint
          ? combineTerms([SAMPLE, t.alpha / s0.alpha], [m0, -t.sigmaT * (ehp - 1)], [d1, -0.5 * (t.sigmaT * (ehp - 1))])
          : combineTerms([SAMPLE, t.alpha / s0.alpha], [m0, -t.sigmaT * (ehp - 1)], [d1, -t.sigmaT * ((ehp - 1) / h - 1)]);
      } else if (type === 'sde-dpmsolver++') {
        const e2 = Math.exp(-2 * h);
        next = combineTerms(
          [SAMPLE, (t.sigmaT / s0.sigmaT) * eh],
          [m0, t.alpha * (1 - e2)],
          [d1, midpoint ? 0.5 * (t.alpha * (1 - e2)) : t.alpha * ((1 - e2) / (-2 * h) + 1)],
          [{ noise: 1 }, t.sigmaT * Math.sqrt(1 - e2)],
        );
      } else {
        next = combineTerms(
          [SAMPLE, t.alpha / s0.alpha],
          [m0, -2 * (t.sigmaT * (ehp - 1))],
          [d1, -(midpoint ? t.sigmaT * (ehp - 1) : 2 * (t.sigmaT * ((ehp - 1) / h - 1)))],
          [{ noise: 1 }, t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1)],
        );
      }
    } else {
      const s1 = this.alphaSigma(this.sigmas[i - 1]!);
      const s2 = this.alphaSigma(this.sigmas[i - 2]!);
      const r0 = (s0.lambda - s1.lambda) / h;
      const r1 = (s1.lambda - s2.lambda) / h;
      const m1 = slotTerms(`d${i - 1}`);
      const m2 = slotTerms(`d${i - 2}`);
      const d10 = combineTerms([m0, 1 / r0], [m1, -1 / r0]);
      const d11 = combineTerms([m1, 1 / r1], [m2, -1 / r1]);
      const d1 = combineTerms([d10, 1 + r0 / (r0 + r1)], [d11, -r0 / (r0 + r1)]);
      const d2 = combineTerms([d10, 1 / (r0 + r1)], [d11, -1 / (r0 + r1)]);
      next =
        type === 'dpmsolver++'
          ? combineTerms([SAMPLE, t.sigmaT / s0.sigmaT], [m0, -t.alpha * (eh - 1)], [d1, t.alpha * ((eh - 1) / h + 1)], [d2, -t.alpha * ((eh - 1 + h) / (h * h) - 0.5)])
          : combineTerms([SAMPLE, t.alpha / s0.alpha], [m0, -t.sigmaT * (ehp - 1)], [d1, -t.sigmaT * ((ehp - 1) / h - 1)], [d2, -t.sigmaT * ((ehp - 1 - h) / (h * h) - 0.5)]);
    }
    const keepCount = Math.min(c.solver_order - 1, i + 1);
    if (i === len - 1 || keepCount === 0) return { next, store: {}, keep: [] };
    const keep = Array.from({ length: keepCount }, (_, k) => `d${i - keepCount + 1 + k}`);
    return { next, store: { [`d${i}`]: conv }, keep };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult {
    const c = this.config;
    const len = this.timesteps.length;
    const lowerOrderFinal =
      stepIndex === len - 1 &&
      (c.euler_at_final || (c.lower_order_final && len < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = stepIndex === len - 2 && c.lower_order_final && len < 15;
    const converted = this.convertModelOutput(modelOutput, sample, stepIndex);
    for (let i = 0; i < c.solver_order - 1; i++) this.modelOutputs[i] = this.modelOutputs[i + 1];
    this.modelOutputs[c.solver_order - 1] = converted;
    const z = this.stochastic ? requireNoise(noise, this.className, sample.length) : undefined;
    let prev: Float32Array;
    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      prev = this.firstOrder(converted, sample, stepIndex, z);
    } else if (c.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      prev = this.secondOrder(sample, stepIndex, z);
    } else {
      prev = this.thirdOrder(sample, stepIndex);
    }
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    return { prevSample: prev };
  }

  private firstOrder(m: Float32Array, x: Float32Array, i: number, z: Float32Array | undefined): Float32Array {
    const t = this.alphaSigma(this.sigmas[i + 1]!);
    const s = this.alphaSigma(this.sigmas[i]!);
    const h = t.lambda - s.lambda;
    const type = this.config.algorithm_type;
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const xk = x[k]!;
      const mk = m[k]!;
      if (type === 'dpmsolver++') out[k] = (t.sigmaT / s.sigmaT) * xk - t.alpha * (Math.exp(-h) - 1) * mk;
      else if (type === 'dpmsolver') out[k] = (t.alpha / s.alpha) * xk - t.sigmaT * (Math.exp(h) - 1) * mk;
      else if (type === 'sde-dpmsolver++') {
        out[k] =
          (t.sigmaT / s.sigmaT) * Math.exp(-h) * xk +
          t.alpha * (1 - Math.exp(-2 * h)) * mk +
          t.sigmaT * Math.sqrt(1 - Math.exp(-2 * h)) * z![k]!;
      } else {
        out[k] =
          (t.alpha / s.alpha) * xk -
          2 * (t.sigmaT * (Math.exp(h) - 1)) * mk +
          t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1) * z![k]!;
      }
    }
    return out;
  }

  private secondOrder(x: Float32Array, i: number, z: Float32Array | undefined): Float32Array {
    const t = this.alphaSigma(this.sigmas[i + 1]!);
    const s0 = this.alphaSigma(this.sigmas[i]!);
    const s1 = this.alphaSigma(this.sigmas[i - 1]!);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1]!;
    const m1 = this.modelOutputs[this.modelOutputs.length - 2]!;
    const h = t.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const type = this.config.algorithm_type;
    const midpoint = this.config.solver_type === 'midpoint';
    const eh = Math.exp(-h);
    const ehp = Math.exp(h);
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const xk = x[k]!;
      const d0 = m0[k]!;
      const d1 = (1 / r0) * (m0[k]! - m1[k]!);
      let v: number;
      if (type === 'dpmsolver++') {
        v = midpoint
          ? (t.sigmaT / s0.sigmaT) * xk - t.alpha * (eh - 1) * d0 - 0.5 * (t.alpha * (eh - 1)) * d1
          : (t.sigmaT / s0.sigmaT) * xk - t.alpha * (eh - 1) * d0 + t.alpha * ((eh - 1) / h + 1) * d1;
      } else if (type === 'dpmsolver') {
        v = midpoint
          ? (t.alpha / s0.alpha) * xk - t.sigmaT * (ehp - 1) * d0 - 0.5 * (t.sigmaT * (ehp - 1)) * d1
          : (t.alpha / s0.alpha) * xk - t.sigmaT * (ehp - 1) * d0 - t.sigmaT * ((ehp - 1) / h - 1) * d1;
      } else if (type === 'sde-dpmsolver++') {
        const e2 = Math.exp(-2 * h);
        v =
          (t.sigmaT / s0.sigmaT) * eh * xk +
          t.alpha * (1 - e2) * d0 +
          (midpoint ? 0.5 * (t.alpha * (1 - e2)) : t.alpha * ((1 - e2) / (-2 * h) + 1)) * d1 +
          t.sigmaT * Math.sqrt(1 - e2) * z![k]!;
      } else {
        v =
          (t.alpha / s0.alpha) * xk -
          2 * (t.sigmaT * (ehp - 1)) * d0 -
          (midpoint ? t.sigmaT * (ehp - 1) : 2 * (t.sigmaT * ((ehp - 1) / h - 1))) * d1 +
          t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1) * z![k]!;
      }
      out[k] = v;
    }
    return out;
  }

  private thirdOrder(x: Float32Array, i: number): Float32Array {
    const t = this.alphaSigma(this.sigmas[i + 1]!);
    const s0 = this.alphaSigma(this.sigmas[i]!);
    const s1 = this.alphaSigma(this.sigmas[i - 1]!);
    const s2 = this.alphaSigma(this.sigmas[i - 2]!);
    const n = this.modelOutputs.length;
    const m0 = this.modelOutputs[n - 1]!;
    const m1 = this.modelOutputs[n - 2]!;
    const m2 = this.modelOutputs[n - 3]!;
    const h = t.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const r1 = (s1.lambda - s2.lambda) / h;
    const pp = this.config.algorithm_type === 'dpmsolver++';
    const eh = Math.exp(-h);
    const ehp = Math.exp(h);
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const d0 = m0[k]!;
      const d10 = (1 / r0) * (m0[k]! - m1[k]!);
      const d11 = (1 / r1) * (m1[k]! - m2[k]!);
      const d1 = d10 + (r0 / (r0 + r1)) * (d10 - d11);
      const d2 = (1 / (r0 + r1)) * (d10 - d11);
      out[k] = pp
        ? (t.sigmaT / s0.sigmaT) * x[k]! -
          t.alpha * (eh - 1) * d0 +
          t.alpha * ((eh - 1) / h + 1) * d1 -
          t.alpha * ((eh - 1 + h) / (h * h) - 0.5) * d2
        : (t.alpha / s0.alpha) * x[k]! -
          t.sigmaT * (ehp - 1) * d0 -
          t.sigmaT * ((ehp - 1) / h - 1) * d1 -
          t.sigmaT * ((ehp - 1 - h) / (h * h) - 0.5) * d2;
    }
    return out;
  }
}
