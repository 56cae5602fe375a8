/**
 * The scheduler interface every sampler here implements, shaped after diffusers' `SchedulerMixin`
 * (`set_timesteps`, `scale_model_input`, `step`, `timesteps`, `sigmas`, `init_noise_sigma`).
 *
 * Departures from diffusers, all without numerical effect for text-to-image:
 * - `step` and `scaleModelInput` take the step index (position in `timesteps`) instead of finding
 *   it from the timestep value, because the pipeline always walks the schedule from its start.
 * - Tensors are flat float32 arrays (the whole batch, C order); every coefficient is a scalar per
 *   step, so the arithmetic is elementwise. Coefficients are computed in float64.
 * - Stochastic steps draw noise through a callback supplied by the pipeline (Philox streams,
 *   one per image), never from PyTorch's generator.
 */
import type { AffineStep } from './affine-step.js';
import type { SchedulerConfig, SchedulerName } from './scheduler-config.js';

/** Supplies standard-normal noise with the length of the sample (whole batch). */
export type NoiseSource = () => Float32Array;

/** Result of one scheduler step. */
export interface SchedulerStepResult {
  /** x_{t−1}: the sample for the next step (or the final latents after the last step). */
  prevSample: Float32Array;
  /**
   * The model's estimate of the clean sample, when the scheduler defines one that the pipeline
   * must decode instead of `prevSample` (LCM's `denoised`).
   */
  denoised?: Float32Array;
}

/** Options for {@link Scheduler.setTimesteps}. */
export interface SetTimestepsOptions {
  /** Resolution-dependent shift μ for flow matching with `use_dynamic_shifting`. */
  mu?: number;
}

/** A diffusion sampler (one of the diffusers schedulers, ported). */
export interface Scheduler {
  /** The diffusers class this scheduler reproduces. */
  readonly className: SchedulerName;
  /** The resolved config: diffusers defaults overlaid with the given keys. */
  readonly config: Readonly<Required<Pick<SchedulerConfig, 'num_train_timesteps'>>> & Readonly<SchedulerConfig>;
  /** Timesteps of the current schedule, in order (float; integer-valued for most schedulers). */
  readonly timesteps: readonly number[];
  /** σ of each step plus the final σ, for sigma-parameterised schedulers; undefined otherwise. */
  readonly sigmas: readonly number[] | undefined;
  /** Standard deviation of the initial noise (the pipeline multiplies initial latents by it). */
  readonly initNoiseSigma: number;
  /** Whether `step` may call its noise source (ancestral / SDE / multi-step LCM sampling). */
  readonly stochastic: boolean;
  /** Build the schedule for `numInferenceSteps` denoiser calls (PNDM makes one extra). */
  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void;
  /** Scale the denoiser input at `stepIndex` (identity for most schedulers). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** Advance one step from the model output at `stepIndex`. Must be called in order. */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult;
  /**
   * The step at `stepIndex` of the current schedule as an affine plan (see `affine-step.ts`), for
   * the GPU-resident denoising loop; undefined where the step is not affine under this config
   * (e.g. `clip_sample: true`). Pure: does not advance the scheduler's state. Optional: schedulers
   * without it run on the host.
   */
  affineStep?(stepIndex: number): AffineStep | undefined;
  /** The factor `scaleModelInput` multiplies the sample by at `stepIndex` (1 for most schedulers). */
  inputScale?(stepIndex: number): number;
}

/** Apply `f(x, m)` elementwise into a new float32 array. */
export function mapPair(
  x: Float32Array,
  m: Float32Array,
  f: (xi: number, mi: number) => number,
): Float32Array {
  if (x.length !== m.length) {
    throw new RangeError(`sample has ${x.length} values but the model output has ${m.length}`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!, m[i]!);
  return out;
}

/** Multiply every element by `s` into a new array. */
export function scale(x: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * s;
  return out;
}

/** Require a noise source for a stochastic step. */
export function requireNoise(noise: NoiseSource | undefined, who: string, length: number): Float32Array {
  if (!noise) throw new RangeError(`${who}: this step is stochastic and needs a noise source`);
  const n = noise();
  if (n.length !== length) throw new RangeError(`${who}: noise has ${n.length} values, expected ${length}`);
  return n;
}
