/**
 * Runs affine scheduler steps (`affine-step.ts`) as ONNX step graphs (`step-graph.ts`) on one
 * execution provider, keeping the scheduler's stored tensors (history slots) where the graph
 * leaves them: on the GPU for `webgpu` (outputs `preferredOutputLocation: 'gpu-buffer'`), on the
 * host for `cpu` (what the unit tests run: the graphs are plain ONNX).
 *
 * Sessions are cached per (ONNX Runtime module, provider, graph structure) for the life of the
 * process (a few hundred bytes of graph each; a run uses at most a handful of structures).
 * Every tensor a runner receives from ONNX Runtime is counted in {@link liveStepTensors} until it
 * is disposed, so tests can check that a generation leaves nothing behind.
 */
import type * as OrtNamespace from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { AffineStep } from './affine-step.js';
import type { StepGuidance } from './step-graph.js';
import { stepGraphBytes, stepGraphCall, stepGraphKey } from './step-graph.js';

type OrtModule = typeof OrtNamespace;

/** Execution providers a step graph runs on. */
export type StepProvider = 'webgpu' | 'cpu';

const sessions = new WeakMap<object, Map<string, Promise<InferenceSession>>>();
let live = 0;

/** Number of tensors received from step graphs (and GPU buffers allocated by the loop) not yet disposed. */
export function liveStepTensors(): number {
  return live;
}

/** Count a tensor as live (it must later go through {@link disposeTracked}). */
export function track<T extends { dispose(): void }>(tensor: T): T {
  live++;
  return tensor;
}

/** Dispose a tensor counted by {@link track} (undefined is ignored). */
export function disposeTracked(tensor: { dispose(): void } | undefined): void {
  if (!tensor) return;
  live--;
  tensor.dispose();
}

function stepSession(ort: OrtModule, provider: StepProvider, key: string, bytes: () => Uint8Array): Promise<InferenceSession> {
  let perModule = sessions.get(ort);
  if (!perModule) {
    perModule = new Map();
    sessions.set(ort, perModule);
  }
  const fullKey = `${provider}/${key}`;
  let session = perModule.get(fullKey);
  if (!session) {
    session = ort.InferenceSession.create(bytes(), {
      executionProviders: [provider],
      preferredOutputLocation: provider === 'cpu' ? 'cpu' : 'gpu-buffer',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    session.catch(() => perModule!.delete(fullKey));
    perModule.set(fullKey, session);
  }
  return session;
}

/** Options of a {@link StepGraphRunner}. */
export interface StepGraphRunnerOptions {
  /** Guidance layout of the denoiser output(s). */
  guidance: StepGuidance;
  /** Guidance scale g (ignored without guidance). */
  guidanceScale: number;
  /** Element type of the denoiser output (default: float32). */
  modelType?: 'float32' | 'float16';
  /** Element type of the denoiser's sample input (default: float32). */
  inputType?: 'float32' | 'float16';
}

/** The denoiser output(s) of one step: one tensor, or `[uncond, cond]` with sequential guidance. */
export type StepModelOutput = Tensor | readonly [Tensor, Tensor];

/** Runs the steps of one denoising loop; owns the stored history tensors. */
export class StepGraphRunner {
  private readonly slots = new Map<string, Tensor>();
  private readonly options: Required<StepGraphRunnerOptions>;

  constructor(
    private readonly ort: OrtModule,
    /** Where the graphs run. */
    readonly provider: StepProvider,
    options: StepGraphRunnerOptions,
  ) {
    this.options = { modelType: 'float32', inputType: 'float32', ...options };
  }

  /**
   * Run step `plan`: `model` is the denoiser output (see {@link StepModelOutput}), `sample` the
   * current latents x_i (float32 [B, C, h, w], host or GPU), `noise` the step's host noise when
   * the plan draws it, `inputScale` the next step's `scale_model_input` factor (undefined on the
   * last step). Returns x_{i+1} and the next denoiser input (both tracked: dispose them with
   * {@link disposeTracked}); the plan's stores replace their slots, slots not kept are disposed.
   */
  async step(
    plan: AffineStep,
    inputs: { model: StepModelOutput; sample: Tensor; noise?: Float32Array; inputScale?: number },
  ): Promise<{ next: Tensor; modelInput?: Tensor }> {
    const { guidance, guidanceScale, modelType, inputType } = this.options;
    const call = stepGraphCall(plan, { guidance, guidanceScale, modelType, inputType, inputScale: inputs.inputScale });
    const session = await stepSession(this.ort, this.provider, stepGraphKey(call.spec), () => stepGraphBytes(call.spec));
    const dims = inputs.sample.dims;
    const feeds: Record<string, Tensor> = { coef: new this.ort.Tensor('float32', call.coef, [call.coef.length]), sample: inputs.sample };
    if (guidance === 'sequential') {
      if (!Array.isArray(inputs.model)) throw new TypeError('step graph: sequential guidance needs [uncond, cond] model outputs');
      [feeds['model_u'], feeds['model_c']] = inputs.model as readonly [Tensor, Tensor];
    } else {
      if (Array.isArray(inputs.model)) throw new TypeError(`step graph: guidance "${guidance}" takes one model output`);
      feeds['model'] = inputs.model as Tensor;
    }
    if (call.spec.noise) {
      if (!inputs.noise) throw new RangeError('step graph: this step draws noise but none was given');
      feeds['noise'] = new this.ort.Tensor('float32', inputs.noise, dims);
    }
    call.reads.forEach((slot, k) => {
      const h = this.slots.get(slot);
      if (!h) throw new RangeError(`step graph: history slot "${slot}" was not stored by an earlier step`);
      feeds[`h${k}`] = h;
    });
    const out = await session.run(feeds);
    const next = track(out['next']!);
    const modelInput = out['model_input'] ? track(out['model_input']) : undefined;
    call.writes.forEach((slot, j) => {
      disposeTracked(this.slots.get(slot));
      this.slots.set(slot, track(out[`s${j}`]!));
    });
    const keep = new Set(plan.keep);
    for (const [slot, tensor] of this.slots) {
      if (!keep.has(slot)) {
        disposeTracked(tensor);
        this.slots.delete(slot);
      }
    }
    return { next, ...(modelInput ? { modelInput } : {}) };
  }

  /** Release every stored tensor (idempotent). */
  dispose(): void {
    for (const tensor of this.slots.values()) disposeTracked(tensor);
    this.slots.clear();
  }
}
