import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SdError } from './errors.js';
import { alphasCumprod } from './scheduler-config.js';
import { createScheduler, resolveSchedulerName, SCHEDULER_CHOICE_CLASSES, SCHEDULER_CHOICES, schedulerFromConfig } from './scheduler-factory.js';
import { SCHEDULER_NAMES } from './scheduler-config.js';
import { calculateShift } from './scheduler-flow-match.js';
import type { Scheduler } from './scheduler.js';

interface RefEntry {
  timesteps: number[];
  sigmas?: number[];
  init_noise_sigma?: number;
}
const ref = JSON.parse(readFileSync(new URL('./__fixtures__/scheduler_reference.json', import.meta.url), 'utf8')) as {
  config: Record<string, unknown>;
  alphas_cumprod: Record<string, number>;
  schedulers: Record<string, RefEntry>;
  flow_match_shift3: Record<string, RefEntry>;
};

/** Per-class keys the reference generator passed on top of `ref.config` (see __fixtures__/README.md). */
const extra: Record<string, Record<string, unknown>> = {
  DDIMScheduler: { steps_offset: 1, set_alpha_to_one: false, clip_sample: false },
  PNDMScheduler: { skip_prk_steps: true },
};

function expectClose(actual: readonly number[], expected: readonly number[], rel = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = rel * Math.max(Math.abs(expected[i]!), 1e-6);
    if (Math.abs(actual[i]! - expected[i]!) > tol) {
      throw new Error(`index ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
    }
  }
}

describe('noise schedule', () => {
  it('alphas_cumprod match diffusers (torch float32) to 1e-6 relative', () => {
    const ac = alphasCumprod({
      num_train_timesteps: 1000,
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      trained_betas: null,
      rescale_betas_zero_snr: false,
    });
    for (const [t, v] of Object.entries(ref.alphas_cumprod)) {
      expect(Math.abs(ac[Number(t)]! - v) / v).toBeLessThan(1e-6);
    }
  });
});

describe('scheduler timesteps and sigmas vs scheduler_reference.json', () => {
  const keys = Object.keys(ref.schedulers);
  it('covers all 90 reference configurations', () => {
    expect(keys.length).toBe(90);
  });
  for (const key of keys) {
    const [cls, spacing, steps] = key.split('/') as [string, string, string];
    it(`${key}`, () => {
      const s: Scheduler = createScheduler({
        name: cls,
        config: { ...ref.config, timestep_spacing: spacing, ...(extra[cls] ?? {}) },
      });
      s.setTimesteps(Number(steps));
      const e = ref.schedulers[key]!;
      expectClose(s.timesteps, e.timesteps);
      if (e.sigmas) expectClose(s.sigmas!, e.sigmas);
      else expect(s.sigmas).toBeUndefined();
      if (e.init_noise_sigma !== undefined) expectClose([s.initNoiseSigma], [e.init_noise_sigma]);
    });
  }
  for (const [steps, e] of Object.entries(ref.flow_match_shift3)) {
    it(`FlowMatchEulerDiscreteScheduler/shift3/${steps}`, () => {
      const s = createScheduler({ name: 'FlowMatchEulerDiscreteScheduler', config: { shift: 3 } });
      s.setTimesteps(Number(steps));
      expectClose(s.timesteps, e.timesteps);
      expectClose(s.sigmas!, e.sigmas!);
    });
  }
});

describe('scheduler steps (hand-checked values from the diffusers formulas)', () => {
  const sd = { ...ref.config, steps_offset: 1, set_alpha_to_one: false, clip_sample: false };
  it('DDIM 751 → 501 with x=1, ε=0.5', () => {
    const s = createScheduler({ name: 'ddim', config: sd });
    s.setTimesteps(4);
    const out = s.step(new Float32Array([0.5]), 0, new Float32Array([1])).prevSample;
    // x0 = (1 − √(1−ᾱ751)·0.5)/√ᾱ751 = 2.1780652; prev = 1.5679196 (js-ml-stack notes §3.3)
    expect(out[0]).toBeCloseTo(1.5679196, 5);
  });
  it('Euler one SD-Turbo step: input scale √ᾱ_999 and x0 = x − σ·ε', () => {
    const s = createScheduler({ name: 'euler', config: { ...ref.config, timestep_spacing: 'trailing' } });
    s.setTimesteps(1);
    const scaled = s.scaleModelInput(new Float32Array([1]), 0);
    expect(scaled[0]).toBeCloseTo(0.06826488, 6);
    const out = s.step(new Float32Array([0.5]), 0, new Float32Array([1])).prevSample;
    expect(out[0]).toBeCloseTo(-6.3073244, 4);
  });
  it('Euler ancestral σ_up/σ_down on trailing 2 steps adds σ_up·z', () => {
    const s = createScheduler({ name: 'euler-a', config: { ...ref.config, timestep_spacing: 'trailing' } });
    s.setTimesteps(2);
    // With ε = 0 the x0 prediction is x, so x' = x + σ_up·z; σ_up = 1.6030349.
    const out = s.step(new Float32Array([0]), 0, new Float32Array([1]), () => new Float32Array([1])).prevSample;
    expect(out[0]).toBeCloseTo(1 + 1.6030349, 5);
    expect(() => s.step(new Float32Array([0]), 0, new Float32Array([1]))).toThrow(/noise source/);
  });
  it('LCM boundary scalings at t = 999 and t = 259', () => {
    const s = createScheduler('lcm', ref.config);
    const a = (s as unknown as { boundaryScalings(t: number): { cSkip: number; cOut: number } }).boundaryScalings(999);
    expect(a.cSkip).toBeCloseTo(2.505e-9, 12);
    expect(a.cOut).toBeCloseTo(0.99999999875, 10);
    const b = (s as unknown as { boundaryScalings(t: number): { cSkip: number } }).boundaryScalings(259);
    expect(b.cSkip).toBeCloseTo(3.7268e-8, 11);
  });
  it('PNDM runs n + 1 denoiser calls with the repeated second timestep', () => {
    const s = createScheduler('pndm', { ...sd, skip_prk_steps: true });
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([751, 501, 501, 251, 1]);
  });
  it('flow matching step is x + (σ′ − σ)·v', () => {
    const s = createScheduler({ name: 'flow-match', config: { shift: 3 } });
    s.setTimesteps(4);
    const out = s.step(new Float32Array([2]), 1, new Float32Array([1])).prevSample;
    expect(out[0]).toBeCloseTo(1 + (0.60215056 - 0.8576923) * 2, 5);
  });
  it('dynamic shifting needs μ and uses calculate_shift', () => {
    const s = createScheduler({ name: 'flow-match', config: { use_dynamic_shifting: true } });
    expect(() => s.setTimesteps(4)).toThrow(/needs mu/);
    expect(calculateShift(4096)).toBeCloseTo(1.15, 10);
    expect(calculateShift(1024)).toBeCloseTo(0.63, 10);
    s.setTimesteps(2, { mu: 0 });
    // μ = 0 with the exponential form is σ/(σ + 1 − σ) = σ (no shift): [1, 0.001] then 0.
    expectClose(s.sigmas!, [1, 0.001, 0]);
  });
});

describe('scheduler errors', () => {
  it('unknown scheduler names are SD_UNKNOWN_SCHEDULER', () => {
    try {
      resolveSchedulerName('heun');
      expect.unreachable();
    } catch (e) {
      expect(SdError.isInstance(e) && e.code).toBe('SD_UNKNOWN_SCHEDULER');
      expect(String(e)).toMatch(/heun/);
    }
    expect(() => schedulerFromConfig({ _class_name: 'KDPM2DiscreteScheduler' })).toThrow(/KDPM2DiscreteScheduler/);
  });
  it('aliases resolve', () => {
    expect(resolveSchedulerName('dpm++2m')).toBe('DPMSolverMultistepScheduler');
    expect(resolveSchedulerName('eulerdiscretescheduler')).toBe('EulerDiscreteScheduler');
  });
  it('unknown override keys and unsupported values name the key', () => {
    expect(() => createScheduler({ name: 'ddim', config: { bogus: 1 } })).toThrow(/bogus/);
    expect(() => createScheduler({ name: 'ddim', config: { timestep_spacing: 'weird' } })).toThrow(/timestep_spacing/);
    expect(() => createScheduler('pndm', { skip_prk_steps: false })).toThrow(/skip_prk_steps/);
    expect(() => createScheduler('ddim', { thresholding: true })).toThrow(/thresholding/);
  });
  it('file configs ignore keys of other schedulers, as diffusers from_config does', () => {
    const s = createScheduler('euler', { _class_name: 'PNDMScheduler', skip_prk_steps: true, foo_unknown: 3 });
    expect(s.className).toBe('EulerDiscreteScheduler');
  });
});

describe('scheduler choices (the list config files and the trainer --help offer)', () => {
  it('every choice builds its scheduler from the default model\'s and SD 1.5\'s scheduler configs, and sets timesteps', () => {
    const tinySd = JSON.parse(readFileSync(new URL('../../../data/models/tiny-sd/scheduler/scheduler_config.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const sd15 = { _class_name: 'PNDMScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', skip_prk_steps: true, steps_offset: 1, set_alpha_to_one: false };
    for (const choice of SCHEDULER_CHOICES) {
      for (const base of [tinySd, sd15]) {
        const scheduler = createScheduler(choice, base);
        expect(scheduler.constructor.name, choice).toBe(SCHEDULER_CHOICE_CLASSES[choice]);
        scheduler.setTimesteps(4);
        expect(scheduler.timesteps.length, choice).toBeGreaterThan(0);
      }
    }
  });

  it('covers every class the package implements, once', () => {
    expect(new Set(Object.values(SCHEDULER_CHOICE_CLASSES))).toEqual(new Set(SCHEDULER_NAMES));
    expect(Object.keys(SCHEDULER_CHOICE_CLASSES)).toEqual([...SCHEDULER_CHOICES]);
  });
});
