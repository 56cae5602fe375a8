/**
 * EulerAncestralDiscreteScheduler, a port of diffusers `scheduling_euler_ancestral_discrete.py`
 * (k-diffusion `sample_euler_ancestral`). Same σ schedule, init_noise_sigma and input scaling as
 * {@link EulerDiscreteScheduler}; the step is
 *   x0 = x − σ·ε;  σ_up = √(σ'²(σ² − σ'²)/σ²);  σ_down = √(σ'² − σ_up²)
 *   x' = x + (x − x0)/σ·(σ_down − σ) + σ_up·z
 * On the last step σ' = 0, so σ_up = 0 and no noise is drawn (diffusers draws it and multiplies
 * by 0; the RNG stream differs from PyTorch's anyway). Karras sigmas are not implemented here.
 */
import type { AffineStep } from './affine-step.js';
import type { NoiseSource, Scheduler, SchedulerStepResult } from './scheduler.js';
import { requireNoise } from './scheduler.js';
import type { SchedulerConfig } from './scheduler-config.js';
import { EulerFamilyScheduler } from './scheduler-euler.js';

/** Euler ancestral sampler (diffusers `EulerAncestralDiscreteScheduler`). */
export class EulerAncestralDiscreteScheduler extends EulerFamilyScheduler implements Scheduler {
  readonly className = 'EulerAncestralDiscreteScheduler' as const;
  readonly stochastic = true;

  constructor(config: SchedulerConfig = {}) {
    super(config, 'EulerAncestralDiscreteScheduler', false);
  }

  /** σ_up and σ_down of the step at `stepIndex`. */
  private ancestral(stepIndex: number): { sigma: number; sigmaUp: number; sigmaDown: number } {
    const sigma = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const sigmaUp = Math.sqrt((sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo)) / (sigma * sigma));
    return { sigma, sigmaUp, sigmaDown: Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp) };
  }

  /** The step at `stepIndex` as an affine plan: the Euler step to σ_down plus σ_up·z (noise drawn when σ_up > 0). */
  affineStep(stepIndex: number): AffineStep {
    const { sigma, sigmaUp, sigmaDown } = this.ancestral(stepIndex);
    return this.eulerPlan(sigma, sigmaDown - sigma, sigmaUp > 0 ? sigmaUp : undefined);
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): SchedulerStepResult {
    const { sigma, sigmaUp, sigmaDown } = this.ancestral(stepIndex);
    const dt = sigmaDown - sigma;
    const z = sigmaUp > 0 ? requireNoise(noise, this.className, sample.length) : undefined;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const x0 = this.predictX0(x, modelOutput[i]!, sigma);
      out[i] = x + ((x - x0) / sigma) * dt + (z ? z[i]! * sigmaUp : 0);
    }
    return { prevSample: out };
  }
}
