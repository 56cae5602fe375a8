/**
 * The denoising loop with the latents on the GPU (ONNX Runtime's WebGPU EP), after diffusers'
 * loop, which keeps every tensor on the device:
 *
 *   in_0 = scale_model_input(x_0) (host, duplicated for batched CFG), uploaded with the first call
 *   for i in steps:
 *     out_i  = denoiser(in_i, t_i, conditioning)         → pre-allocated GPU buffer(s) (IO binding)
 *     x_{i+1}, in_{i+1}, stored h = step graph(out_i, x_i, h, z_i, coef_i)       (GPU, one call)
 *   latents = read back x_N once, for the VAE
 *
 * The step graph (`step-graph.ts`) applies CFG (u + g·(c − u), batched 2B or sequential B + B),
 * the scheduler's affine step (`Scheduler.affineStep`) and the next step's `scale_model_input`.
 * Per step, only the timestep, the coefficients (a few floats) and, for stochastic schedulers,
 * the host noise z_i cross to the GPU: the noise comes from the same per-image Philox streams as
 * on the host path and is drawn at the same steps, so images match the host loop to float32
 * rounding. Every GPU tensor is disposed before returning (also on errors and aborts).
 *
 * Departures from the host loop: `StepInfo.latents` is not available during the loop (use
 * `await info.readLatents()`, a GPU read-back); `stepSeconds` measure dispatch, the GPU may still
 * be working (the final read-back waits for it).
 */
import type * as OrtNamespace from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import type { AffineStep } from './affine-step.js';
import { SdError } from './errors.js';
import { downloadFromGpu, uploadToGpu } from './gpu-resident.js';
import type { OnnxModel, OrtTensor } from './onnx-session.js';
import type { NoiseSource, Scheduler } from './scheduler.js';
import type { StepGuidance } from './step-graph.js';
import { disposeTracked, StepGraphRunner, track } from './step-graph-runner.js';
import { since } from './timings.js';

type OrtModule = typeof OrtNamespace;

/** Progress of one step of the GPU loop (the fields of the pipeline's `StepInfo`). */
export interface GpuStepInfo {
  /** 0-based index of the denoiser call. */
  step: number;
  /** Number of denoiser calls. */
  totalSteps: number;
  /** Scheduler timestep of this step. */
  timestep: number;
  /** Throws: the latents are on the GPU (use {@link readLatents}). */
  readonly latents: Float32Array;
  /** Read the latents after this step back from the GPU (valid during the callback only). */
  readLatents(): Promise<Float32Array>;
}

/** What {@link runGpuDenoiseLoop} needs. */
export interface GpuDenoiseLoopArgs {
  /** The onnxruntime-node module the denoiser session belongs to. */
  ort: OrtModule;
  /** The denoiser, on WebGPU. */
  model: OnnxModel;
  /** Name of its latent input. */
  sampleInputName: string;
  /** The scheduler, after `setTimesteps`. */
  scheduler: Scheduler;
  /** `scheduler.affineStep(i)` for every step (all defined). */
  plans: readonly AffineStep[];
  /** Initial latents x_0 (already × init_noise_sigma), float32 [B, C, h, w]. */
  latents: Float32Array;
  /** [B, C, h, w]. */
  dims: readonly number[];
  /** Guidance layout. */
  guidance: StepGuidance;
  /** Guidance scale g. */
  guidanceScale: number;
  /** Conditioning feeds of denoiser call `half` (0 = batched or uncond, 1 = cond with sequential CFG). */
  conditioning: (half: number) => Record<string, OrtTensor>;
  /** Step noise (the pipeline's per-image Philox streams). */
  noise: NoiseSource;
  /** Throws SD_ABORTED when the caller's signal fired. */
  checkAbort: () => void;
  /** Called after every step; awaited. */
  onStep?: (info: GpuStepInfo) => void | Promise<void>;
  /** Receives the seconds of every step. */
  stepSeconds: number[];
}

const passthrough = new WeakSet<object>();

/** Whether `error` came from the caller (abort, `onStep`), not from the GPU path: never a reason to fall back. */
export function isCallerError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && passthrough.has(error);
}

async function callerCode<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (error) {
    if (typeof error === 'object' && error !== null) passthrough.add(error);
    throw error;
  }
}

/** Run the whole loop with GPU-resident latents; resolves to the final latents (read back once). */
export async function runGpuDenoiseLoop(args: GpuDenoiseLoopArgs): Promise<Float32Array> {
  const { ort, model, scheduler, plans, dims, guidance } = args;
  const total = scheduler.timesteps.length;
  if (plans.length !== total) throw new RangeError(`GPU loop: ${plans.length} step plans for ${total} timesteps`);
  if (!scheduler.inputScale) throw new RangeError(`GPU loop: ${scheduler.className} has no inputScale`);
  const inputInfo = model.input(args.sampleInputName);
  const output = model.outputs[0];
  if (!inputInfo || !output) throw new RangeError(`GPU loop: ${model.component} declares no ${args.sampleInputName} input or no output`);
  const floatType = (type: string, what: string): 'float32' | 'float16' => {
    if (type === 'float32' || type === 'float16') return type;
    throw new RangeError(`GPU loop: ${model.component} ${what} is ${type}, expected float32 or float16`);
  };
  const modelType = floatType(output.type, `output ${output.name}`);
  const inputType = floatType(inputInfo.type, `input ${args.sampleInputName}`);
  const batch = dims[0]!;
  const callBatch = guidance === 'batched' ? 2 * batch : batch;
  const callDims = [callBatch, ...dims.slice(1)];
  const calls = guidance === 'sequential' ? 2 : 1;
  const runner = new StepGraphRunner(ort, 'webgpu', { guidance, guidanceScale: args.guidanceScale, modelType, inputType });
  const outputs: Tensor[] = [];
  let sample: Tensor = new ort.Tensor('float32', args.latents, [...dims]);
  let sampleOnGpu = false;
  let input: OrtTensor;
  let inputOnGpu = false;
  try {
    // denoiser output buffers, written in place every step
    const count = callDims.reduce((a, b) => a * b, 1);
    for (let k = 0; k < calls; k++) {
      const zeros = modelType === 'float16' ? new ort.Tensor('float16', new Uint16Array(count), callDims) : new ort.Tensor('float32', new Float32Array(count), callDims);
      outputs.push(track(await uploadToGpu(ort, zeros)));
    }
    // step 0's input on the host, exactly as the host loop builds it
    const scaled = scheduler.scaleModelInput(args.latents, 0);
    let first = scaled;
    if (guidance === 'batched') {
      first = new Float32Array(2 * scaled.length);
      first.set(scaled, 0);
      first.set(scaled, scaled.length);
    }
    input = model.floatTensor(args.sampleInputName, first, callDims);
    for (let i = 0; i < total; i++) {
      await callerCode(args.checkAbort);
      const tStep = performance.now();
      const t = scheduler.timesteps[i]!;
      for (let k = 0; k < calls; k++) {
        const feeds: Record<string, OrtTensor> = {
          ...args.conditioning(k),
          [args.sampleInputName]: input,
          timestep: model.timestepTensor('timestep', t, callBatch),
        };
        await model.runInto(feeds, { [output.name]: outputs[k] as unknown as OrtTensor });
      }
      const plan = plans[i]!;
      const last = i === total - 1;
      const { next, modelInput } = await runner.step(plan, {
        model: guidance === 'sequential' ? ([outputs[0]!, outputs[1]!] as const) : outputs[0]!,
        sample,
        ...(plan.next.noise !== undefined ? { noise: args.noise() } : {}),
        ...(last ? {} : { inputScale: scheduler.inputScale(i + 1) }),
      });
      if (sampleOnGpu) disposeTracked(sample);
      sample = next;
      sampleOnGpu = true;
      if (inputOnGpu) disposeTracked(input as unknown as Tensor);
      if (modelInput) {
        input = modelInput as unknown as OrtTensor;
        inputOnGpu = true;
      } else inputOnGpu = false;
      args.stepSeconds.push(since(tStep));
      if (args.onStep) {
        let valid = true;
        const current = sample;
        const info: GpuStepInfo = {
          step: i,
          totalSteps: total,
          timestep: t,
          get latents(): Float32Array {
            throw new SdError('SD_INVALID_ARGUMENT', 'StepInfo.latents: the latents are on the GPU (gpuResidentLatents); use await info.readLatents()');
          },
          readLatents: async () => {
            if (!valid) throw new SdError('SD_INVALID_ARGUMENT', 'StepInfo.readLatents() called after its onStep callback returned');
            const host = await downloadFromGpu(ort, current);
            return host.data as Float32Array;
          },
        };
        try {
          await callerCode(() => args.onStep!(info));
        } finally {
          valid = false;
        }
      }
    }
    const host = await downloadFromGpu(ort, sample);
    return Float32Array.from(host.data as Float32Array);
  } finally {
    if (sampleOnGpu) disposeTracked(sample);
    if (inputOnGpu) disposeTracked(input! as unknown as Tensor);
    for (const o of outputs) disposeTracked(o);
    runner.dispose();
  }
}
