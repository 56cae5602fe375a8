/**
 * The scheduler step graphs (plain ONNX, run here on the CPU EP) against every scheduler's JS
 * `step`, step by step over whole schedules: guidance (none, batched 2B, sequential), float16
 * denoiser outputs and inputs, stochastic schedulers with the same noise streams, the next
 * denoiser input (`scale_model_input`). Each step starts from the reference latents (teacher
 * forcing), so the bound is per step: float32 coefficients and arithmetic against the host's
 * float64-per-element evaluation (see TOL).
 */
import { describe, expect, it } from 'vitest';
import type { AffineStep } from './affine-step.js';
import { evaluateAffineStep } from './affine-step.js';
import { fromFloat16, toFloat16 } from './numeric.js';
import { PhiloxGenerator } from './random.js';
import type { Scheduler } from './scheduler.js';
import { createScheduler } from './scheduler-factory.js';
import type { SchedulerSpec } from './scheduler-factory.js';
import { stepGraphBytes, stepGraphCall } from './step-graph.js';
import { liveStepTensors, StepGraphRunner, disposeTracked } from './step-graph-runner.js';

const ort = await import('onnxruntime-node');

const B = 2;
const DIMS = [B, 4, 3, 5];
const N = DIMS.reduce((a, b) => a * b, 1);

/** Scheduler configurations covering every affine code path. */
/**
 * Per-step tolerance: 3e-6 relative, 2e-5 for multistep DPM-Solver, whose JS step stores its
 * converted outputs (x/α − σ/α·ε, large at high noise) as float32 and divides their differences
 * by step-size ratios r: both paths carry that float32 rounding, at different points.
 */
const TOL = 3e-6;
const DPM_TOL = 1e-4;

const CASES: { label: string; spec: SchedulerSpec; steps: number[]; tol?: number }[] = [
  { label: 'Euler ε', spec: { name: 'EulerDiscreteScheduler' }, steps: [1, 7] },
  { label: 'Euler v, Karras, trailing', spec: { name: 'EulerDiscreteScheduler', config: { prediction_type: 'v_prediction', use_karras_sigmas: true, timestep_spacing: 'trailing' } }, steps: [5] },
  { label: 'Euler ancestral', spec: { name: 'EulerAncestralDiscreteScheduler' }, steps: [1, 6] },
  { label: 'DDIM η=0', spec: { name: 'DDIMScheduler', config: { clip_sample: false, set_alpha_to_one: false, steps_offset: 1 } }, steps: [1, 6] },
  { label: 'DDIM v, η set below', spec: { name: 'DDIMScheduler', config: { clip_sample: false, prediction_type: 'v_prediction' } }, steps: [5] },
  { label: 'DDIM sample prediction', spec: { name: 'DDIMScheduler', config: { clip_sample: false, prediction_type: 'sample' } }, steps: [4] },
  { label: 'PNDM (PLMS)', spec: { name: 'PNDMScheduler', config: { skip_prk_steps: true, steps_offset: 1 } }, steps: [1, 2, 3, 4, 9] },
  { label: 'PNDM v', spec: { name: 'PNDMScheduler', config: { skip_prk_steps: true, prediction_type: 'v_prediction' } }, steps: [7] },
  { label: 'LCM', spec: { name: 'LCMScheduler' }, steps: [1, 4] },
  { label: 'LCM v', spec: { name: 'LCMScheduler', config: { prediction_type: 'v_prediction' } }, steps: [3] },
  { label: 'DPM-Solver++ 2M', spec: { name: 'DPMSolverMultistepScheduler' }, steps: [1, 2, 8, 20], tol: DPM_TOL },
  { label: 'DPM-Solver++ 3M Karras', spec: { name: 'DPMSolverMultistepScheduler', config: { solver_order: 3, use_karras_sigmas: true } }, steps: [6, 8], tol: DPM_TOL },
  { label: 'DPM-Solver++ 2M heun, v', spec: { name: 'DPMSolverMultistepScheduler', config: { solver_type: 'heun', prediction_type: 'v_prediction' } }, steps: [6], tol: DPM_TOL },
  { label: 'DPM-Solver 2M (ε), σ_min', spec: { name: 'DPMSolverMultistepScheduler', config: { algorithm_type: 'dpmsolver', final_sigmas_type: 'sigma_min' } }, steps: [6], tol: DPM_TOL },
  { label: 'DPM-Solver 3M (ε), sample', spec: { name: 'DPMSolverMultistepScheduler', config: { algorithm_type: 'dpmsolver', solver_order: 3, final_sigmas_type: 'sigma_min', prediction_type: 'sample' } }, steps: [7], tol: DPM_TOL },
  { label: 'SDE-DPM-Solver++ 2M', spec: { name: 'DPMSolverMultistepScheduler', config: { algorithm_type: 'sde-dpmsolver++' } }, steps: [6], tol: DPM_TOL },
  { label: 'SDE-DPM-Solver 2M heun', spec: { name: 'DPMSolverMultistepScheduler', config: { algorithm_type: 'sde-dpmsolver', solver_type: 'heun', final_sigmas_type: 'sigma_min' } }, steps: [5], tol: DPM_TOL },
  { label: 'flow match', spec: { name: 'FlowMatchEulerDiscreteScheduler', config: { shift: 3 } }, steps: [1, 6] },
  { label: 'flow match stochastic', spec: { name: 'FlowMatchEulerDiscreteScheduler', config: { shift: 3, stochastic_sampling: true } }, steps: [5] },
];

const randn = (seed: number, n = N): Float32Array => new PhiloxGenerator(seed).randn(n);

/** Per-image noise streams as the pipeline builds them. */
function noiseSource(seed: number): () => Float32Array {
  const generators = Array.from({ length: B }, (_, i) => new PhiloxGenerator(seed + i));
  return () => {
    const out = new Float32Array(N);
    for (let i = 0; i < B; i++) out.set(generators[i]!.randn(N / B), (i * N) / B);
    return out;
  };
}

function makeScheduler(spec: SchedulerSpec, steps: number, eta?: number): Scheduler {
  const s = createScheduler(spec, {});
  if (eta !== undefined) (s as unknown as { eta: number }).eta = eta;
  s.setTimesteps(steps, { mu: 1 });
  return s;
}

/** Largest |a − b| / (1 + |b|). */
function maxRel(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return worst;
}

const f16round = (x: Float32Array): Float32Array => fromFloat16(toFloat16(x));

type Layout = 'none' | 'batched' | 'sequential';

/**
 * Run a whole schedule on the JS scheduler and through the step graphs (CPU EP) with the same
 * model outputs and noise; returns the worst relative difference over all steps of the latents
 * and of the next denoiser input.
 */
async function compare(spec: SchedulerSpec, steps: number, layout: Layout, options: { eta?: number; float16?: boolean } = {}): Promise<{ latents: number; input: number; calls: number }> {
  const js = makeScheduler(spec, steps, options.eta);
  const plans = makeScheduler(spec, steps, options.eta);
  const g = 7.5;
  const runner = new StepGraphRunner(ort, 'cpu', {
    guidance: layout,
    guidanceScale: g,
    modelType: options.float16 ? 'float16' : 'float32',
    inputType: options.float16 ? 'float16' : 'float32',
  });
  const noiseJs = noiseSource(100);
  const noiseGraph = noiseSource(100);
  let xJs: Float32Array = randn(1);
  let xGraph = new ort.Tensor('float32', Float32Array.from(xJs), DIMS);
  let worst = 0;
  let worstInput = 0;
  const total = js.timesteps.length;
  const base = liveStepTensors();
  try {
    for (let i = 0; i < total; i++) {
      // denoiser outputs (independent of x, so both paths see identical values)
      let u: Float32Array = randn(1000 + 2 * i).map((v) => 0.8 * v);
      let c: Float32Array = randn(1001 + 2 * i).map((v) => 0.8 * v);
      if (options.float16) [u, c] = [f16round(u), f16round(c)];
      const eps = layout === 'none' ? c : u.map((ui, k) => ui + g * (c[k]! - ui));
      const tensor = (data: Float32Array, dims: number[]): InstanceType<typeof ort.Tensor> =>
        options.float16 ? new ort.Tensor('float16', toFloat16(data), dims) : new ort.Tensor('float32', data, dims);
      const both = new Float32Array(2 * N);
      both.set(u);
      both.set(c, N);
      const model =
        layout === 'none' ? tensor(c, DIMS) : layout === 'batched' ? tensor(both, [2 * B, ...DIMS.slice(1)]) : ([tensor(u, DIMS), tensor(c, DIMS)] as const);
      const plan = plans.affineStep!(i)!;
      expect(plan).toBeDefined();
      const last = i === total - 1;
      const { next, modelInput } = await runner.step(plan, {
        model,
        sample: xGraph,
        ...(plan.next.noise !== undefined ? { noise: noiseGraph() } : {}),
        ...(last ? {} : { inputScale: plans.inputScale!(i + 1) }),
      });
      xJs = js.step(eps, i, xJs, noiseJs).prevSample;
      worst = Math.max(worst, maxRel(next.data as Float32Array, xJs));
      // teacher forcing: the next step starts from the reference latents, so each step's own
      // error is measured (stored history tensors are the graph's own)
      disposeTracked(next);
      xGraph = new ort.Tensor('float32', Float32Array.from(xJs), DIMS);
      if (!last) {
        expect(modelInput).toBeDefined();
        const expected = js.scaleModelInput(xJs, i + 1);
        const got = options.float16 ? fromFloat16(modelInput!.data as Uint16Array) : (modelInput!.data as Float32Array);
        const reference = options.float16 ? f16round(expected) : expected;
        const half = layout === 'batched' ? [got.subarray(0, N), got.subarray(N)] : [got];
        expect(got.length).toBe(layout === 'batched' ? 2 * N : N);
        for (const part of half) worstInput = Math.max(worstInput, maxRel(part, reference) / (options.float16 ? 1000 : 1));
        disposeTracked(modelInput);
      } else expect(modelInput).toBeUndefined();
      // only the slots the plan keeps stay alive between steps
      expect(liveStepTensors() - base, `live tensors after step ${i}`).toBe(plan.keep.length);
    }
    // both noise streams advanced equally (the plan drew noise exactly when step did)
    expect(noiseGraph()).toEqual(noiseJs());
  } finally {
    runner.dispose();
  }
  return { latents: worst, input: worstInput, calls: total };
}

describe('scheduler step graphs on the CPU EP vs the JS schedulers', () => {
  for (const c of CASES) {
    for (const steps of c.steps) {
      it(`${c.label}, ${steps} steps, batched CFG: every step within ${c.tol ?? TOL}`, async () => {
        const r = await compare(c.spec, steps, 'batched');
        expect(r.latents).toBeLessThan(c.tol ?? TOL);
        expect(r.input).toBeLessThan(c.tol ?? TOL);
      });
    }
  }

  it('without guidance and with sequential CFG (two B-sized outputs)', async () => {
    for (const layout of ['none', 'sequential'] as const) {
      for (const c of [CASES[1]!, CASES[6]!, CASES[11]!, CASES[15]!]) {
        const r = await compare(c.spec, 6, layout);
        expect(r.latents, `${c.label} ${layout}`).toBeLessThan(c.tol ?? TOL);
        expect(r.input, `${c.label} ${layout}`).toBeLessThan(c.tol ?? TOL);
      }
    }
  });

  it('DDIM with η > 0 draws noise exactly when the JS step does', async () => {
    const r = await compare({ name: 'DDIMScheduler', config: { clip_sample: false } }, 6, 'batched', { eta: 0.7 });
    expect(r.latents).toBeLessThan(TOL);
  });

  it('float16 denoiser output and input (cast in the graph; latents stay float32)', async () => {
    for (const c of [CASES[0]!, CASES[6]!, CASES[10]!]) {
      const r = await compare(c.spec, 5, 'batched', { float16: true });
      expect(r.latents, c.label).toBeLessThan(c.tol ?? TOL);
      // float16 rounding of the next input: within one float16 ulp (≈ 1e-3 relative, scaled above)
      expect(r.input, c.label).toBeLessThan(1e-6);
    }
  });

  it('leaves no tensor behind', async () => {
    const before = liveStepTensors();
    await compare(CASES[11]!.spec, 8, 'batched');
    expect(liveStepTensors()).toBe(before);
  });

  it('clipped DDIM and LCM have no affine plan (they stay on the host)', () => {
    expect(makeScheduler({ name: 'DDIMScheduler', config: { clip_sample: true } }, 4).affineStep!(0)).toBeUndefined();
    expect(makeScheduler({ name: 'LCMScheduler', config: { clip_sample: true } }, 4).affineStep!(0)).toBeUndefined();
  });

  it('plans evaluated on the host equal the JS step (float64 reference of the graph arithmetic)', () => {
    for (const c of CASES) {
      const js = makeScheduler(c.spec, 6);
      const plans = makeScheduler(c.spec, 6);
      const noiseJs = noiseSource(7);
      const noisePlan = noiseSource(7);
      let a: Float32Array = randn(3);
      let b: Float32Array = Float32Array.from(a);
      const history = new Map<string, Float32Array>();
      for (let i = 0; i < js.timesteps.length; i++) {
        const m = randn(50 + i);
        const plan: AffineStep = plans.affineStep!(i)!;
        const r = evaluateAffineStep(plan, b, m, history, plan.next.noise !== undefined ? noisePlan() : undefined);
        for (const [slot, v] of r.stored) history.set(slot, v);
        for (const slot of [...history.keys()]) if (!plan.keep.includes(slot)) history.delete(slot);
        a = js.step(m, i, a, noiseJs).prevSample;
        b = r.next;
        expect(maxRel(b, a), `${c.label} step ${i}`).toBeLessThan(c.tol ?? TOL);
        b = Float32Array.from(a); // teacher forcing, as in compare()
      }
    }
  });

  it('builds a deterministic graph with one coef input and the declared outputs', async () => {
    const call = stepGraphCall({ next: { sample: 1, model: 2, noise: 0.5, history: { b: 3, a: 4 } }, store: { s: { model: 1 } }, keep: ['s'] }, {
      guidance: 'batched',
      guidanceScale: 5,
      modelType: 'float16',
      inputType: 'float16',
      inputScale: 0.25,
    });
    expect(Array.from(call.coef)).toEqual([5, 1, 2, 0.5, 4, 3, 0, 1, 0.25]);
    expect(call.reads).toEqual(['a', 'b']);
    const bytes = stepGraphBytes(call.spec);
    expect(stepGraphBytes(call.spec)).toEqual(bytes);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['coef', 'model', 'sample', 'noise', 'h0', 'h1']);
    expect(session.outputNames).toEqual(['next', 's0', 'model_input']);
    await session.release();
  });
});
