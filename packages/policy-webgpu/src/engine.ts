/**
 * `WebGpuPolicyEngine`: @vlm-grpo/grpo's `PolicyEngine` port on hand-written WGSL kernels, for
 * GPT-2, Llama and Qwen2 (the architectures of @vlm-grpo/vlm). It composes the launchers of
 * `kernels/`; it holds no kernel code.
 *
 * Model (transformers `modeling_gpt2.py`, `modeling_llama.py`, `modeling_qwen2.py`, as
 * @vlm-grpo/vlm's `CausalLM`), per token row, R = N·S rows of width C:
 * - GPT-2: h = wte[ids] + wpe[pos]; per block: qkv = ln_1(h)·W_attn + b; a = attn(qkv);
 *   h += a·W_proj + b; f = gelu_new(ln_2(h)·W_fc + b_fc); h += f·W_mproj + b; then ln_f.
 * - Llama/Qwen2: h = embed[ids]; per block: qkv = rms(h)·[Wq;Wk;Wv]ᵀ (+ Qwen2's biases), RoPE on
 *   q and k, a = attn(qkv) with GQA; h += a·Woᵀ; h += down(silu(gate)·up) with [gate; up] one
 *   matmul; then the final RMSNorm. Output head: tied embedding or `lm_head`.
 * Batches: prompts left-padded to Lp and completions right-padded to Tc (both rounded up to
 * multiples of 8 so that batches of similar lengths reuse one recorded plan; extra positions are
 * masked and change no value), S = Lp + Tc; position ids = cumsum(mask) − 1 (1 at padding), as
 * `CausalLM#sequenceLogProbs`. Only the N·Tc rows that predict completion tokens reach the
 * vocabulary matmul; the fused classifier returns log-softmax(logits / T)[token] and the entropy,
 * and its backward overwrites the logits with dL/dlogits (probabilities are never stored).
 * Execution: per batch shape a plan (activation buffers + recorded forward and backward command
 * lists) is built once and replayed into one command encoder per forward, backward and optimizer
 * step; inputs are written with `queue.writeBuffer`; the only read-backs are the per-token
 * log-probs/entropies and the gradient norm (4 bytes) per step.
 * Parameters, gradients and AdamW moments are four flat buffers in one layout (param-layout.ts).
 * Optimizer: global norm in two passes, clip coefficient and AdamW applied on the GPU (PyTorch
 * `clip_grad_norm_` + `torch.optim.AdamW`, decay on rank ≥ 2 tensors); a non-finite norm skips the
 * update (as `TfjsPolicyEngine`), gradients are zeroed either way.
 * Generation (`generate`, token ids in and out, the contract of vlm's `CausalLM.generate`): B
 * prompts left-padded to Lp (a multiple of 8), G completions each (N = B·G sequences), T new
 * tokens at most; a KV cache [N, Hkv, Lp + T, D] per layer for keys and values. One prefill pass
 * over the B·Lp prompt rows writes the cache of all G sequences of each prompt and samples token
 * 0; then each step embeds the N new tokens, runs the blocks with one-query attention over the
 * cache, the final norm and the vocabulary matmul on those N rows only (N ≤ 32: the projections
 * and the head through kernels/matvec.ts, which reads each weight once), and the on-GPU sampler
 * (repetition penalty, no-repeat n-gram, greedy or temperature/top-k/top-p and a seeded draw):
 * one command encoder per step, replayed unchanged (the step counter lives on the GPU), and a
 * read-back of the N token ids and log-probs per step (generation-plan.ts, generation.ts).
 * `sample` (text in, text out) goes through the sampler given at creation:
 * `createWebGpuPolicyEngine`'s runs the wrapper's text handling with this engine's `generate`, and
 * falls back to the wrapper's tfjs generation (after copying the weights), with a log line, only
 * where `generate` reports `WEBGPU_UNSUPPORTED` (e.g. a KV cache over the binding limit).
 * Mixed precision (`precision: 'f16'`, needs `shader-f16`; default 'fp32'): fp32 master weights,
 * gradients and AdamW moments, as in fp32. An f16 copy of the matmul weights (GPT-2 c_attn,
 * attn.c_proj, c_fc, mlp.c_proj; Llama/Qwen2 q|k|v, o_proj, gate|up, down_proj; the vocabulary
 * head, tied or not) is recast from the masters, in one pass recorded once per engine, at the
 * start of the next forward's command encoder whenever `weightsVersion` changed (optimizer step,
 * syncFrom, setOptimizerState, creation). The qkv, attention-output, MLP and vocabulary matmuls
 * run through kernels/matmul-f16.ts (f16 × f16 products, fp32 accumulation, fp32 outputs, fp32
 * biases). f16 tensors per block: ln₁ and ln₂ (the norm outputs) and the MLP activation
 * (gelu/silu·up), written by their fp32 kernels into one fp32 staging buffer and cast; plus one
 * shared f16 copy of the attention output (the attention backward keeps reading its fp32
 * output) and of the selected final-norm rows. Everything else stays fp32: residual stream, q|k|v,
 * attention and its log-sum-exp, MLP pre-activation, norms and their statistics, logits, the
 * classifier, every backward kernel except the matmuls, the optimizer. Backward: each matmul's
 * dY (fp32) is cast to f16 as s·dY with a per-tensor power-of-two loss scale s computed on the
 * GPU from max|dY| (kernels/f16-scale.ts); dX = dY·W and dW += Xᵀ·dY run on f16 operands and
 * multiply by 1/s into fp32 dX and the fp32 gradient buffer. Generation (`generate`) stays fp32.
 * Activation recomputation (`recompute: 'layer'`; default 'none'): the forward keeps each
 * block's input res[l] (the residual stream, L + 1 tensors) and writes every block's other
 * activations into one shared set; before block l's backward its forward runs again from res[l]
 * into that set (the last block's are still there), so the backward sees the same values: the
 * results are bit-identical to 'none' for one more forward of L − 1 blocks per backward.
 * `planMemory(shape)` reports a plan's buffer bytes (plan-memory.ts has the closed form).
 * Departures: attention rows with no visible key (left padding) output 0 where HF averages all
 * values (such rows never reach a completion log-prob); dropout is not implemented (GRPO trains
 * with dropout off); sampled tokens follow the GPU sampler's counter-based random stream, not the
 * tfjs generator's (greedy decoding is the same; kernels/sampler.ts lists the sampler's own).
 */
import type {
  AdamWHyperParameters,
  LogProbOptions,
  OptimizerStateData,
  OptimizerStepOptions,
  PerTokenResult,
  PolicyEngine,
  PolicySampleOptions,
  PolicySampleResult,
  TokenBatch,
} from '@vlm-grpo/grpo';
import type { EngineModelConfig as ModelConfig, EngineWeightSpec as WeightSpec } from './model-types.js';
import { PolicyWebGpuError } from './errors.js';
import { createGpuContext, GpuContext, roundUp, TimestampProfiler, type Command, type Slice } from './gpu.js';
import type { GpuGenerateOptions, GpuGenerateOutput } from './generate-types.js';
import { normalizeGenerateOptions, runDecodeLoop } from './generation.js';
import { buildGenerationPlan, generationKey, promptSlotsFor, writeGenerationInputs, type GenerationModel, type GenerationPlan, type GenerationShape } from './generation-plan.js';
import { adamwHyper, adamwStep, lerp } from './kernels/adamw.js';
import { castF32ToF16, f16Bytes } from './kernels/cast-f16.js';
import { f16Scale, f16ScalePartials } from './kernels/f16-scale.js';
import { attentionBackward, attentionBackwardScratchFloats, attentionForward } from './kernels/attention.js';
import { classifierBackward, classifierForward, gatherRows, scatterRows } from './kernels/classifier.js';
import { buildScatterPlan, encoderBackward, encoderForward } from './kernels/encoder.js';
import { geluBackward, geluForward } from './kernels/gelu.js';
import { globalNormFinal, globalNormPartial, globalNormUniform, normPartials } from './kernels/global-norm.js';
import { layerNormBackward, layerNormForward } from './kernels/layernorm.js';
import { biasGrad, COLUMN_CHUNK, matmul, type MatrixView } from './kernels/matmul.js';
import { matmulF16, matmulF16FallbackReason, matmulF16Kernel, prepareMatmulF16, supportsF16, type MatmulF16Args } from './kernels/matmul-f16.js';
import { rmsNormBackward, rmsNormForward } from './kernels/rmsnorm.js';
import { ropeBackward, ropeForward, ropeInverseFrequencies, ropeTables } from './kernels/rope.js';
import { swigluBackward, swigluForward } from './kernels/swiglu.js';
import type { EnginePrecision, EngineRecompute, MatmulF16Path, ParamLayout, PlanMemory, PlanShape, PolicyDevice, PolicyProfiler } from './model-types.js';
import { buildParamLayout, PARAM_ALIGN, paramSlice, paramSliceF16 } from './param-layout.js';
import { PLAN_BUCKET } from './plan-memory.js';

/** Options of the engine factories. */
export interface WebGpuPolicyEngineOptions {
  /** The device to use (from `createPolicyDevice`; default: a new one from the `webgpu` package). */
  context?: PolicyDevice;
  /** AdamW hyper-parameters (defaults: `torch.optim.AdamW`, weight decay 0 as TRL's GRPOConfig). */
  adamW?: AdamWHyperParameters;
  /** Padding id for ragged batches (default: the config's pad, else its first EOS, else 0). */
  padTokenId?: number;
  /**
   * Text generation for {@link WebGpuPolicyEngine.sample} (tokenizer and prompt template live
   * there; `createWebGpuPolicyEngine` gives one that generates with {@link WebGpuPolicyEngine.generate})
   * (default: none: `sample` throws `WEBGPU_UNSUPPORTED`; `generate` works on token ids without it).
   */
  sampler?: (prompts: string[], options: PolicySampleOptions | undefined, engine: WebGpuPolicyEngine) => Promise<PolicySampleResult>;
  /**
   * Arithmetic of `logProbs`, `forwardTrain` and `backward` (see the file header): `fp32`, or `f16`
   * mixed precision (f16 matmuls with fp32 accumulation on f16 copies of the weights and of the
   * activations only matmuls read; fp32 master weights, gradients and AdamW). `f16` needs the
   * device feature `shader-f16`: without it the factories throw `WEBGPU_UNSUPPORTED`. Generation
   * stays fp32 (default: `fp32`).
   */
  precision?: EnginePrecision;
  /**
   * Activation recomputation: `none`, or `layer` (keep only each block's input; re-run the block's
   * forward into one shared set of buffers before its backward: same values bit for bit, one
   * extra forward of the blocks per backward, a fraction of the activation memory) (default: `none`).
   */
  recompute?: EngineRecompute;
  /**
   * precision 'f16' only: the f16 matmul kernel (kernels/matmul-f16.ts). 'auto' takes the
   * subgroup-matrix (tensor-core) kernel where it compiled on this device, else the plain one;
   * 'plain' and 'subgroup-matrix' force one ('subgroup-matrix' throws `WEBGPU_UNSUPPORTED` where
   * it cannot run). The benchmark times both (default: 'auto').
   */
  f16Matmul?: MatmulF16Path;
}

/** Shape bucket rounding (positions) of prompts and completions. */
const BUCKET = PLAN_BUCKET;
/** Recorded plans kept per engine (least recently used evicted). */
const MAX_PLANS = 3;
/** Recorded generation plans kept per engine (they hold the KV caches; least recently used evicted). */
const MAX_GENERATION_PLANS = 2;

/** One batch shape: its activation buffers and recorded command lists. */
interface Plan {
  key: string;
  n: number;
  lp: number;
  tc: number;
  s: number;
  rows: number;
  sel: number;
  inputs: {
    ids: GPUBuffer;
    mask: GPUBuffer;
    pos: GPUBuffer;
    ropeCos: GPUBuffer | null;
    ropeSin: GPUBuffer | null;
    sel: GPUBuffer;
    targets: GPUBuffer;
    gradLogp: GPUBuffer;
    wtePlan: GPUBuffer;
    wpePlan: GPUBuffer | null;
  };
  out: GPUBuffer;
  forward: Command[];
  backward: Command[];
  buffers: GPUBuffer[];
  /** Bytes of the plan's buffers by role. */
  memory: PlanMemory;
  /** WebGPU validation of the plan's creation (bind groups, pipelines), checked before first use. */
  validation: Promise<GPUError | null> | null;
}

/** The context behind a {@link PolicyDevice} (only this package makes them). */
function asGpuContext(device: PolicyDevice): GpuContext {
  if (!(device instanceof GpuContext)) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', 'context: expected a device from createPolicyDevice() of this copy of @vlm-grpo/policy-webgpu');
  return device;
}

/** The profiler behind a {@link PolicyProfiler}. */
function asProfiler(profiler: PolicyProfiler): TimestampProfiler {
  if (!(profiler instanceof TimestampProfiler)) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', 'profiler: expected a profiler from createProfiler()');
  return profiler;
}

/** The AdamW state of a parameter range for a dispatch: contiguous chunks within binding limits. */
function chunks(start: number, end: number, maxElements: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let a = start; a < end; a += maxElements) out.push([a, Math.min(end, a + maxElements)]);
  return out;
}

/** The fused WebGPU policy engine (see the file header). */
export class WebGpuPolicyEngine implements PolicyEngine {
  /** Normalised model configuration. */
  readonly config: ModelConfig;
  /** The `config.json` object. */
  readonly rawConfig: Record<string, unknown>;
  private readonly gpu: GpuContext;
  /** Parameter layout (names, shapes, offsets). */
  readonly layout: ParamLayout;
  /** AdamW hyper-parameters, fixed at creation. */
  readonly adamW: Required<AdamWHyperParameters>;
  private readonly specs: readonly WeightSpec[];
  private readonly padTokenId: number;
  private readonly sampler: WebGpuPolicyEngineOptions['sampler'];
  private readonly invFreq: Float32Array | null;
  /** Arithmetic of the training passes (fixed at creation). */
  readonly precision: EnginePrecision;
  /** Activation recomputation (fixed at creation). */
  readonly recompute: EngineRecompute;
  /**
   * The matmul kernel of the training passes (fixed at creation): 'fp32' (kernels/matmul.ts), or
   * under precision 'f16' 'f16-plain' or 'f16-subgroup-matrix' (kernels/matmul-f16.ts).
   */
  readonly matmulKernel: 'fp32' | 'f16-plain' | 'f16-subgroup-matrix';
  /**
   * Why the f16 matmuls do not use the subgroup-matrix (tensor-core) kernel: the adapter lacks
   * the feature or a usable configuration, it did not compile, or `f16Matmul: 'plain'` asked for
   * the plain one; null when they use it, or under precision 'fp32'.
   */
  readonly matmulKernelNote: string | null;
  private readonly f16MatmulPath: MatmulF16Path;
  private readonly params: GPUBuffer;
  /**
   * precision 'f16': the f16 copy of the matmul weights (same layout as `params`), the recorded
   * casts that refresh it, and the `weightsVersion` it was last cast from (-1: never).
   */
  private readonly f16Weights: { params: GPUBuffer; cast: Command[]; buffers: GPUBuffer[]; version: number } | null;
  private grads: GPUBuffer | null = null;
  private moments: { m: GPUBuffer; v: GPUBuffer } | null = null;
  private stepCount = 0;
  private readonly plans = new Map<string, Plan>();
  private readonly generationPlans = new Map<string, GenerationPlan & { buffers: GPUBuffer[] }>();
  /** The last `generate` call (calls run one after another: they share the plans' buffers). */
  private generating: Promise<unknown> = Promise.resolve();
  private trained: { plan: Plan; lengths: number[]; temperature: number } | null = null;
  private readonly invTemperature: GPUBuffer;
  private optimizer: { commands: Command[]; hyper: GPUBuffer; normUniform: GPUBuffer; normOut: GPUBuffer; partials: number; buffers: GPUBuffer[] } | null = null;
  /** Bumped whenever the weights change (samplers that copy weights use it). */
  weightsVersion = 0;
  /**
   * When set, every dispatch gets its own compute pass with timestamp writes into this profiler
   * (the benchmark's per-kernel profile; needs a context created with `timestamps: true`).
   * Default: null (one compute pass per copy-free run of dispatches).
   */
  profiler: PolicyProfiler | null = null;
  private disposed = false;

  private constructor(
    context: GpuContext,
    config: ModelConfig,
    rawConfig: Record<string, unknown>,
    specs: readonly WeightSpec[],
    options: WebGpuPolicyEngineOptions,
  ) {
    this.gpu = context;
    this.config = config;
    this.rawConfig = rawConfig;
    this.specs = specs;
    this.layout = buildParamLayout(config, specs);
    this.adamW = {
      beta1: options.adamW?.beta1 ?? 0.9,
      beta2: options.adamW?.beta2 ?? 0.999,
      epsilon: options.adamW?.epsilon ?? 1e-8,
      weightDecay: options.adamW?.weightDecay ?? 0,
    };
    this.padTokenId = options.padTokenId ?? config.padTokenId ?? config.eosTokenIds[0] ?? 0;
    this.sampler = options.sampler;
    this.invFreq = config.architecture === 'gpt2' ? null : ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
    this.precision = options.precision ?? 'fp32';
    this.recompute = options.recompute ?? 'none';
    if (this.precision !== 'fp32' && this.precision !== 'f16') {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine: precision must be 'fp32' or 'f16', received ${JSON.stringify(options.precision)}`);
    }
    if (this.recompute !== 'none' && this.recompute !== 'layer') {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine: recompute must be 'none' or 'layer', received ${JSON.stringify(options.recompute)}`);
    }
    this.f16MatmulPath = options.f16Matmul ?? 'auto';
    if (!['auto', 'plain', 'subgroup-matrix'].includes(this.f16MatmulPath)) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine: f16Matmul must be 'auto', 'plain' or 'subgroup-matrix', received ${JSON.stringify(options.f16Matmul)}`);
    }
    if (this.precision === 'f16') {
      const kernel = matmulF16Kernel(context, this.f16MatmulPath);
      this.matmulKernel = kernel === 'subgroup-matrix' ? 'f16-subgroup-matrix' : 'f16-plain';
      this.matmulKernelNote = kernel === 'subgroup-matrix' ? null : this.f16MatmulPath === 'plain' ? "f16Matmul: 'plain' asked for the plain kernel" : matmulF16FallbackReason(context);
    } else {
      this.matmulKernel = 'fp32';
      this.matmulKernelNote = null;
    }
    this.params = context.buffer('params', this.layout.total * 4);
    this.invTemperature = context.upload('invTemperature', Float32Array.of(1, 0, 0, 0));
    this.f16Weights = this.precision === 'f16' ? this.buildWeightCast() : null;
  }

  /** The Hugging Face names of the weights the matmuls read (the f16 copy holds these). */
  private matmulWeightNames(): string[] {
    const cfg = this.config;
    const names: string[] = [];
    for (let l = 0; l < cfg.numLayers; l += 1) {
      if (cfg.architecture === 'gpt2') {
        const p = `transformer.h.${l}`;
        names.push(`${p}.attn.c_attn.weight`, `${p}.attn.c_proj.weight`, `${p}.mlp.c_fc.weight`, `${p}.mlp.c_proj.weight`);
      } else {
        const p = `model.layers.${l}`;
        names.push(...['q', 'k', 'v', 'o'].map((x) => `${p}.self_attn.${x}_proj.weight`), ...['gate', 'up', 'down'].map((x) => `${p}.mlp.${x}_proj.weight`));
      }
    }
    const embed = cfg.architecture === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
    names.push(cfg.tieWordEmbeddings ? embed : 'lm_head.weight');
    return names;
  }

  /**
   * precision 'f16': the f16 weight buffer and the casts that fill it from `params`: the matmul
   * weights as element runs (tensors closer than one alignment unit merged; the gap elements are
   * zeros), each split within the binding limit.
   */
  private buildWeightCast(): { params: GPUBuffer; cast: Command[]; buffers: GPUBuffer[]; version: number } {
    const ctx = this.gpu;
    const entries = this.matmulWeightNames().map((name) => this.layout.byName.get(name)!).sort((a, b) => a.offset - b.offset);
    const runs: Array<[number, number]> = [];
    for (const e of entries) {
      const last = runs[runs.length - 1];
      if (last && e.offset - last[1] < PARAM_ALIGN) last[1] = Math.max(last[1], e.offset + e.size);
      else runs.push([e.offset, e.offset + e.size]);
    }
    const { value, buffers } = ctx.track(() => {
      const params = ctx.buffer('params.f16', this.layout.total * 2);
      const cast = runs.flatMap(([start, end]) =>
        this.ranges(start, end).map(([a, b]) => {
          const startByte = Math.floor((a * 2) / 256) * 256;
          return castF32ToF16(ctx, 'weights.f16', {
            n: b - a,
            src: { slice: { buffer: this.params, offset: a * 4, size: (b - a) * 4 } },
            dst: { slice: { buffer: params, offset: startByte, size: Math.ceil((b * 2) / 4) * 4 - startByte }, offset: a - startByte / 2 },
          });
        }),
      );
      return { params, cast };
    });
    return { ...value, buffers, version: -1 };
  }

  /** precision 'f16': the weight casts when the weights changed since the last cast (they go first in the next encoder), else nothing. */
  private weightRefresh(): Command[] {
    const w = this.f16Weights;
    if (!w || w.version === this.weightsVersion) return [];
    w.version = this.weightsVersion;
    return w.cast;
  }

  /**
   * An engine for a Hugging Face `config.json` object and its weights by tensor name (float32,
   * Hugging Face shapes). Throws `WEBGPU_MISSING_WEIGHTS` naming missing or mis-shaped tensors.
   */
  static async fromWeights(
    rawConfig: Record<string, unknown>,
    weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
    options: WebGpuPolicyEngineOptions = {},
    source = '<weights>',
  ): Promise<WebGpuPolicyEngine> {
    const vlm = await import('@vlm-grpo/vlm');
    const config = vlm.parseModelConfig(rawConfig, `${source}/config.json`);
    const specs = vlm.weightSpecs(config);
    const bad = specs.filter((spec) => {
      const w = weights.get(spec.name);
      return !w || w.shape.length !== spec.shape.length || w.shape.some((d, i) => d !== spec.shape[i]) || w.data.length !== spec.shape.reduce((a, b) => a * b, 1);
    });
    if (bad.length > 0) {
      throw new PolicyWebGpuError(
        'WEBGPU_MISSING_WEIGHTS',
        `${source}: missing or mis-shaped tensors: ${bad.slice(0, 6).map((s) => `${s.name} (expected [${s.shape.join(', ')}])`).join(', ')}${bad.length > 6 ? `, … (${bad.length} in all)` : ''}`,
      );
    }
    const context = options.context ? asGpuContext(options.context) : await createGpuContext();
    if (options.precision === 'f16') {
      if (!supportsF16(context)) {
        throw new PolicyWebGpuError(
          'WEBGPU_UNSUPPORTED',
          `${source}: precision 'f16' needs the WebGPU feature shader-f16, which this device lacks (adapter: ${context.adapterInfo || 'unknown'}); use precision 'fp32'`,
        );
      }
      await prepareMatmulF16(context);
    }
    const limit = context.device.limits.maxStorageBufferBindingSize;
    const largest = specs.reduce((a, s) => (s.shape.reduce((x, y) => x * y, 1) > a.shape.reduce((x, y) => x * y, 1) ? s : a), specs[0]!);
    const largestBytes = largest.shape.reduce((x, y) => x * y, 1) * 4;
    if (largestBytes > limit) {
      throw new PolicyWebGpuError(
        'WEBGPU_UNSUPPORTED',
        `${source}: tensor ${largest.name} [${largest.shape.join(', ')}] needs a ${largestBytes}-byte storage binding; this adapter allows ${limit} (maxStorageBufferBindingSize)`,
      );
    }
    const engine = new WebGpuPolicyEngine(context, config, { ...rawConfig }, specs, options);
    const flat = new Float32Array(engine.layout.total);
    for (const entry of engine.layout.entries) flat.set(weights.get(entry.name)!.data, entry.offset);
    context.write(engine.params, flat);
    return engine;
  }

  /**
   * Load `config.json` and `model.safetensors` (or a sharded index) from a folder, with
   * @vlm-grpo/vlm's reader (F32, F16 and BF16 tensors become float32).
   */
  static async fromPretrained(dir: string, options: WebGpuPolicyEngineOptions = {}): Promise<WebGpuPolicyEngine> {
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const vlm = await import('@vlm-grpo/vlm');
    const configPath = join(dir, 'config.json');
    let rawConfig: Record<string, unknown>;
    try {
      rawConfig = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new PolicyWebGpuError('WEBGPU_MISSING_WEIGHTS', `${configPath}: cannot read config.json (${(error as Error).message})`, { cause: error });
    }
    const tensors = await vlm.readCheckpoint(dir);
    const weights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [name, tensor] of tensors) weights.set(name, { shape: tensor.shape, data: vlm.tensorToFloat32(tensor, name) });
    const config = vlm.parseModelConfig(rawConfig, configPath);
    // Tied checkpoints may still carry lm_head.weight; untied ones need it (fromWeights checks).
    if (config.tieWordEmbeddings) weights.delete('lm_head.weight');
    return WebGpuPolicyEngine.fromWeights(rawConfig, weights, options, dir);
  }

  private assertLive(method: string): void {
    if (this.disposed) throw new PolicyWebGpuError('WEBGPU_DISPOSED', `WebGpuPolicyEngine.${method}: the engine was disposed`);
  }

  /** Parameter names (Hugging Face tensor names) in the architecture's order. */
  get parameterNames(): string[] {
    return this.specs.map((s) => s.name);
  }

  /** AdamW updates applied so far. */
  get step(): number {
    return this.stepCount;
  }

  /**
   * Sample completions of text prompts with the sampler given at creation (tokenizer and
   * template live there; `createWebGpuPolicyEngine`'s generates on the GPU with {@link generate}).
   */
  async sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult> {
    this.assertLive('sample');
    if (!this.sampler) {
      throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', 'WebGpuPolicyEngine.sample: no sampler was given at creation (createWebGpuPolicyEngine(wrapper) provides one)');
    }
    return this.sampler(prompts, options, this);
  }

  /**
   * Generate continuations of token-id prompts (ragged rows are left-padded) on the GPU: KV-cache
   * prefill and decode, on-GPU sampling (see the file header and generation.ts). Same options and
   * result as @vlm-grpo/vlm's `CausalLM.generate` (greedy by default; `doSample` with temperature,
   * top-k, top-p; repetition penalty; no-repeat n-gram; EOS ids and stop strings;
   * `numReturnSequences` rows per prompt, prompt-major; seeded). Throws `WEBGPU_INVALID_ARGUMENT`
   * for bad options or tokens and `WEBGPU_UNSUPPORTED` when a buffer of the shape exceeds the
   * adapter's binding limit. Leaves a pending `forwardTrain` valid. Concurrent calls run one
   * after another.
   */
  async generate(inputIds: readonly (readonly number[])[], options: GpuGenerateOptions = {}): Promise<GpuGenerateOutput> {
    const run = this.generating.then(() => this.generateNow(inputIds, options));
    this.generating = run.catch(() => undefined);
    return run;
  }

  private async generateNow(inputIds: readonly (readonly number[])[], options: GpuGenerateOptions): Promise<GpuGenerateOutput> {
    this.assertLive('generate');
    const where = 'WebGpuPolicyEngine.generate';
    const o = normalizeGenerateOptions(options, where);
    if (inputIds.length === 0 || inputIds.some((row) => row.length === 0)) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `${where}: need at least one prompt, each with at least one token`);
    }
    const vocab = this.config.vocabSize;
    inputIds.forEach((row, r) =>
      row.forEach((token, j) => {
        if (!Number.isInteger(token) || token < 0 || token >= vocab) {
          throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `${where}: prompt ${r} token ${j} = ${token} is outside [0, ${vocab})`);
        }
      }),
    );
    const padTokenId = options.padTokenId ?? this.padTokenId;
    if (!Number.isInteger(padTokenId) || padTokenId < 0 || padTokenId >= vocab) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `${where}: padTokenId ${padTokenId} is outside [0, ${vocab})`);
    }
    const longest = Math.max(...inputIds.map((row) => row.length));
    const limit = this.config.architecture === 'gpt2' ? this.config.maxPositions : Number.POSITIVE_INFINITY;
    const maxNew = Math.max(0, Math.min(o.maxNewTokens, limit - longest));
    const promptRows = inputIds.flatMap((row) => Array.from({ length: o.group }, () => [...row]));
    if (maxNew === 0) {
      return { sequences: promptRows.map((row) => [...row]), promptIds: promptRows, completionIds: promptRows.map(() => []), completionLogProbs: promptRows.map(() => []), finishReasons: promptRows.map(() => 'length') };
    }
    const plan = await this.generationPlan({ prompts: inputIds.length, group: o.group, promptSlots: promptSlotsFor(longest), newTokens: roundUp(maxNew, BUCKET) });
    writeGenerationInputs(this.generationModel(), plan, inputIds, padTokenId, o.settings);
    return runDecodeLoop(this.gpu, plan, {
      promptIds: inputIds,
      maxNew,
      eos: new Set(options.eosTokenIds ?? this.config.eosTokenIds),
      stopStrings: options.stopStrings,
      decode: options.decode,
      submit: (commands) => this.submit(commands),
    });
  }

  /** Per-token log-probs (and entropy) of the completions; invalidates a pending forwardTrain. */
  async logProbs(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    this.assertLive('logProbs');
    this.trained = null;
    const { plan, lengths } = this.prepare(batch, options, 'logProbs');
    return this.runForward(plan, lengths, options.withEntropy === true);
  }

  /** As {@link logProbs}, keeping the activations for {@link backward}. */
  async forwardTrain(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    this.assertLive('forwardTrain');
    this.trained = null;
    const { plan, lengths } = this.prepare(batch, options, 'forwardTrain');
    const result = await this.runForward(plan, lengths, options.withEntropy === true);
    this.trained = { plan, lengths, temperature: options.temperature ?? 1 };
    return result;
  }

  /** Accumulate the gradients of Σ grad·logp of the last forwardTrain batch. */
  async backward(gradLogProbs: readonly Float32Array[]): Promise<void> {
    this.assertLive('backward');
    const trained = this.trained;
    if (!trained) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_STATE', 'WebGpuPolicyEngine.backward: call forwardTrain first (logProbs, clone and parameter changes invalidate its activations)');
    }
    const { plan, lengths } = trained;
    if (gradLogProbs.length !== lengths.length) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.backward: ${gradLogProbs.length} gradient rows for a batch of ${lengths.length}`);
    }
    const g = new Float32Array(plan.sel);
    gradLogProbs.forEach((row, i) => {
      if (row.length !== lengths[i]) {
        throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.backward: gradient row ${i} has ${row.length} values, completion ${i} ${lengths[i]} tokens`);
      }
      g.set(row, i * plan.tc);
    });
    this.ensureGrads();
    this.gpu.write(plan.inputs.gradLogp, g);
    this.gpu.write(this.invTemperature, Float32Array.of(1 / trained.temperature, 0, 0, 0));
    this.submit(plan.backward);
    // The logits now hold dlogits: a second backward needs a new forwardTrain.
    this.trained = null;
    await this.gpu.device.queue.onSubmittedWorkDone();
  }

  /** Clip, AdamW, zero the gradients; returns the pre-clip norm (non-finite: no update). */
  async optimizerStep(options: OptimizerStepOptions): Promise<{ gradNorm: number }> {
    this.assertLive('optimizerStep');
    if (!(Number.isFinite(options.learningRate) && options.learningRate >= 0)) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.optimizerStep: learningRate must be a finite number ≥ 0, received ${options.learningRate}`);
    }
    this.ensureGrads();
    const opt = this.ensureOptimizer();
    const maxNorm = options.maxGradNorm !== undefined && Number.isFinite(options.maxGradNorm) && options.maxGradNorm > 0 ? options.maxGradNorm : 0;
    this.gpu.writeUniform(opt.normUniform, globalNormUniform(opt.partials, maxNorm));
    // First pass: the norm only (its read-back decides whether to update).
    const normCommands = opt.commands.filter((c) => c.label.startsWith('norm'));
    this.submit(normCommands);
    const norm = (await this.gpu.readF32(opt.normOut, 1))[0]!;
    if (Number.isFinite(norm)) {
      this.stepCount += 1;
      this.gpu.writeUniform(opt.hyper, adamwHyper({ ...this.adamW, learningRate: options.learningRate, step: this.stepCount }));
      this.submit(opt.commands.filter((c) => !c.label.startsWith('norm')));
      this.weightsVersion += 1;
      this.trained = null;
    }
    await this.zeroGrad();
    return { gradNorm: norm };
  }

  /** Drop the accumulated gradients. */
  async zeroGrad(): Promise<void> {
    this.assertLive('zeroGrad');
    if (this.grads) this.submit([{ kind: 'clear', label: 'zero_grad', buffer: this.grads, offset: 0, size: this.grads.size }]);
  }

  /** An independent copy on the same device (same weights, fresh optimizer and gradients, no sampler). */
  async clone(): Promise<WebGpuPolicyEngine> {
    this.assertLive('clone');
    // No sampler: the sampler of createWebGpuPolicyEngine writes weights into its wrapper, which a
    // reference copy must not overwrite.
    const copy = new WebGpuPolicyEngine(this.gpu, this.config, this.rawConfig, this.specs, { adamW: this.adamW, padTokenId: this.padTokenId, precision: this.precision, recompute: this.recompute, f16Matmul: this.f16MatmulPath });
    this.submit([{ kind: 'copy', label: 'clone', src: this.params, srcOffset: 0, dst: copy.params, dstOffset: 0, size: this.params.size }]);
    await this.gpu.device.queue.onSubmittedWorkDone();
    return copy;
  }

  /** ref ← α·src + (1 − α)·ref (on the GPU for another WebGpuPolicyEngine, else by name). */
  async syncFrom(source: PolicyEngine, alpha: number): Promise<void> {
    this.assertLive('syncFrom');
    if (!(alpha >= 0 && alpha <= 1)) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.syncFrom: alpha must be in [0, 1], received ${alpha}`);
    let src: GPUBuffer;
    let temporary: GPUBuffer | null = null;
    if (source instanceof WebGpuPolicyEngine && source.context === this.gpu && source.layout.total === this.layout.total && source.parameterNames.join() === this.parameterNames.join()) {
      src = source.params;
    } else {
      const state = await source.getOptimizerState();
      const flat = new Float32Array(this.layout.total);
      for (const entry of this.layout.entries) {
        const p = state.parameters[entry.name];
        if (!p || p.weights.length !== entry.size) {
          throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.syncFrom: the source has no parameter ${entry.name} of ${entry.size} values`);
        }
        flat.set(p.weights, entry.offset);
      }
      temporary = src = this.gpu.upload('sync.src', flat);
    }
    const commands = this.ranges(0, this.layout.total).map(([a, b]) =>
      lerp(this.gpu, 'sync', { n: b - a, alpha, src: { buffer: src, offset: a * 4, size: (b - a) * 4 }, dst: { buffer: this.params, offset: a * 4, size: (b - a) * 4 } }),
    );
    this.submit(commands);
    await this.gpu.device.queue.onSubmittedWorkDone();
    temporary?.destroy();
    this.weightsVersion += 1;
    this.trained = null;
  }

  /** Weights and AdamW moments by Hugging Face tensor name. */
  async getOptimizerState(): Promise<OptimizerStateData> {
    this.assertLive('getOptimizerState');
    const n = this.layout.total;
    const [weights, m, v] = await Promise.all([
      this.gpu.readF32(this.params, n),
      this.moments ? this.gpu.readF32(this.moments.m, n) : Promise.resolve(new Float32Array(n)),
      this.moments ? this.gpu.readF32(this.moments.v, n) : Promise.resolve(new Float32Array(n)),
    ]);
    const parameters: OptimizerStateData['parameters'] = {};
    for (const e of this.layout.entries) {
      parameters[e.name] = {
        shape: [...e.shape],
        weights: weights.slice(e.offset, e.offset + e.size),
        m: m.slice(e.offset, e.offset + e.size),
        v: v.slice(e.offset, e.offset + e.size),
      };
    }
    return { step: this.stepCount, parameters };
  }

  /** Restore {@link getOptimizerState}'s output (moments left out: zeros); checks everything first. */
  async setOptimizerState(state: OptimizerStateData): Promise<void> {
    this.assertLive('setOptimizerState');
    const names = this.parameterNames;
    const missing = names.filter((name) => !(name in state.parameters));
    const extra = Object.keys(state.parameters).filter((name) => !this.layout.byName.has(name));
    if (missing.length > 0 || extra.length > 0) {
      throw new PolicyWebGpuError(
        'WEBGPU_INVALID_ARGUMENT',
        'WebGpuPolicyEngine.setOptimizerState: parameters do not match the model' +
          (missing.length > 0 ? `; missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}` : '') +
          (extra.length > 0 ? `; unexpected ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}` : ''),
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.setOptimizerState: step must be a non-negative integer, got ${state.step}`);
    }
    for (const e of this.layout.entries) {
      const p = state.parameters[e.name]!;
      const sizes = [p.weights.length, ...(p.m === undefined ? [] : [p.m.length]), ...(p.v === undefined ? [] : [p.v.length])];
      if (p.shape.length !== e.shape.length || p.shape.some((d, k) => d !== e.shape[k]) || sizes.some((s) => s !== e.size)) {
        throw new PolicyWebGpuError(
          'WEBGPU_INVALID_ARGUMENT',
          `WebGpuPolicyEngine.setOptimizerState: parameter ${e.name}: expected shape [${e.shape.join(', ')}], got [${p.shape.join(', ')}] with ${sizes.join('/')} values`,
        );
      }
    }
    const n = this.layout.total;
    const [w, m, v] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    let anyMoment = false;
    for (const e of this.layout.entries) {
      const p = state.parameters[e.name]!;
      w.set(p.weights, e.offset);
      if (p.m) {
        m.set(p.m, e.offset);
        anyMoment = true;
      }
      if (p.v) {
        v.set(p.v, e.offset);
        anyMoment = true;
      }
    }
    this.gpu.write(this.params, w);
    if (anyMoment || state.step > 0 || this.moments) {
      const moments = this.ensureMoments();
      this.gpu.write(moments.m, m);
      this.gpu.write(moments.v, v);
    }
    this.stepCount = state.step;
    this.weightsVersion += 1;
    this.trained = null;
    await this.zeroGrad();
    await this.gpu.device.queue.onSubmittedWorkDone();
  }

  /**
   * Logits [B, T, V] of `inputIds` with an attention mask and explicit position ids, read back
   * (for parity tests against Hugging Face's `model(input_ids, attention_mask)`; training never
   * reads logits back).
   */
  async logits(inputIds: number[][], attentionMask: number[][], positionIds: number[][]): Promise<Float32Array> {
    this.assertLive('logits');
    const n = inputIds.length;
    const t = inputIds[0]!.length;
    // One-token "prompts" and the rest as "completions" would shift the rows; instead run a plan
    // with Lp = 1 row of padding and read the vocabulary rows of every position.
    const plan = this.plan(n, roundUp(t, BUCKET), BUCKET, true);
    const { s } = plan;
    const ids = new Uint32Array(n * s).fill(this.padTokenId);
    const mask = new Uint32Array(n * s);
    const pos = new Uint32Array(n * s).fill(1);
    const sel = new Uint32Array(plan.sel);
    for (let b = 0; b < n; b += 1) {
      for (let j = 0; j < t; j += 1) {
        ids[b * s + j] = inputIds[b]![j]!;
        mask[b * s + j] = attentionMask[b]![j]! ? 1 : 0;
        pos[b * s + j] = positionIds[b]![j]!;
      }
    }
    const perRow = plan.sel / n;
    for (let b = 0; b < n; b += 1) for (let j = 0; j < perRow; j += 1) sel[b * perRow + j] = b * s + Math.min(j, s - 1);
    this.writeInputs(plan, ids, mask, pos, sel, new Uint32Array(plan.sel), 1);
    await this.validated(plan);
    this.submit([...this.weightRefresh(), ...plan.forward]);
    const v = this.config.vocabSize;
    const all = await this.gpu.readF32(plan.logitsBuffer!, plan.sel * v);
    const out = new Float32Array(n * t * v);
    for (let b = 0; b < n; b += 1) for (let j = 0; j < t; j += 1) out.set(all.subarray((b * perRow + j) * v, (b * perRow + j + 1) * v), (b * t + j) * v);
    return out;
  }

  /**
   * Bytes of the GPU buffers of the training plan of a batch shape, by role (activations kept for
   * the backward, backward scratch, inputs), building the plan if it is not cached: how much
   * `precision` and `recompute` save. plan-memory.ts's `estimatePlanMemory` gives the same
   * numbers without a device. Throws `WEBGPU_INVALID_ARGUMENT` for a bad shape.
   */
  planMemory(shape: PlanShape): PlanMemory {
    this.assertLive('planMemory');
    const { sequences, promptTokens, completionTokens } = shape;
    if (![sequences, promptTokens].every((v) => Number.isInteger(v) && v >= 1) || !(Number.isInteger(completionTokens) && completionTokens >= 0)) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.planMemory: need integers sequences ≥ 1, promptTokens ≥ 1, completionTokens ≥ 0; received ${JSON.stringify(shape)}`);
    }
    const plan = this.plan(sequences, roundUp(promptTokens, BUCKET), roundUp(Math.max(1, completionTokens), BUCKET), false);
    return { ...plan.memory };
  }

  /** Weights by Hugging Face tensor name (for checkpoints: safetensors via @vlm-grpo/vlm). */
  async getWeights(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    this.assertLive('getWeights');
    const flat = await this.gpu.readF32(this.params, this.layout.total);
    return new Map(this.layout.entries.map((e) => [e.name, { shape: [...e.shape], data: flat.slice(e.offset, e.offset + e.size) }]));
  }

  /** The accumulated gradients by Hugging Face tensor name (zeros before any backward). */
  async getGradients(): Promise<Map<string, Float32Array>> {
    this.assertLive('getGradients');
    const flat = this.grads ? await this.gpu.readF32(this.grads, this.layout.total) : new Float32Array(this.layout.total);
    return new Map(this.layout.entries.map((e) => [e.name, flat.slice(e.offset, e.offset + e.size)]));
  }

  /** Free every buffer the engine holds. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const plan of this.plans.values()) plan.buffers.forEach((b) => b.destroy());
    this.plans.clear();
    for (const plan of this.generationPlans.values()) plan.buffers.forEach((b) => b.destroy());
    this.generationPlans.clear();
    this.optimizer?.buffers.forEach((b) => b.destroy());
    this.f16Weights?.buffers.forEach((b) => b.destroy());
    this.params.destroy();
    this.grads?.destroy();
    this.moments?.m.destroy();
    this.moments?.v.destroy();
    this.invTemperature.destroy();
  }

  // ---------------------------------------------------------------- internals

  private submit(commands: readonly Command[]): void {
    this.gpu.submit(commands, this.profiler ? asProfiler(this.profiler) : undefined);
  }

  /** The device this engine runs on (share it with other engines through their `context` option). */
  get context(): PolicyDevice {
    return this.gpu;
  }

  private ensureGrads(): GPUBuffer {
    this.grads ??= this.gpu.buffer('grads', this.layout.total * 4);
    return this.grads;
  }

  private ensureMoments(): { m: GPUBuffer; v: GPUBuffer } {
    this.moments ??= { m: this.gpu.buffer('adam.m', this.layout.total * 4), v: this.gpu.buffer('adam.v', this.layout.total * 4) };
    return this.moments;
  }

  /** [start, end) element ranges within the device's storage-binding limit, 64-aligned. */
  private ranges(start: number, end: number): Array<[number, number]> {
    const max = Math.floor(this.gpu.device.limits.maxStorageBufferBindingSize / 4 / 64) * 64;
    return chunks(start, end, max);
  }

  private ensureOptimizer() {
    if (this.optimizer) return this.optimizer;
    const ctx = this.gpu;
    const grads = this.ensureGrads();
    const { m, v } = this.ensureMoments();
    const { value, buffers } = ctx.track(() => {
      const commands: Command[] = [];
      const all = this.ranges(0, this.layout.total);
      const partials = all.reduce((sum, [a, b]) => sum + normPartials(b - a), 0);
      const partial = ctx.buffer('norm.partial', partials * 4);
      const normOut = ctx.buffer('norm.out', 16);
      let offset = 0;
      for (const [a, b] of all) {
        commands.push(globalNormPartial(ctx, 'norm.partial', { n: b - a, x: { buffer: grads, offset: a * 4, size: (b - a) * 4 }, partial: { buffer: partial }, partialOffset: offset }));
        offset += normPartials(b - a);
      }
      const normUniform = ctx.uniform('norm.p', globalNormUniform(partials, 0));
      commands.push(globalNormFinal(ctx, 'norm.final', { uniform: normUniform, partial: { buffer: partial }, out: { buffer: normOut } }));
      const hyper = ctx.uniform('adamw.hyper', adamwHyper({ ...this.adamW, learningRate: 0, step: 1 }));
      const slice = (buffer: GPUBuffer, a: number, b: number): Slice => ({ buffer, offset: a * 4, size: (b - a) * 4 });
      for (const [start, end, decay] of [[0, this.layout.decayEnd, true], [this.layout.decayEnd, this.layout.total, false]] as const) {
        for (const [a, b] of this.ranges(start, end)) {
          commands.push(adamwStep(ctx, decay ? 'adamw.decay' : 'adamw', { n: b - a, decay, hyper, clip: { buffer: normOut }, grad: slice(grads, a, b), param: slice(this.params, a, b), m: slice(m, a, b), v: slice(v, a, b) }));
        }
      }
      return { commands, hyper, normUniform, normOut, partials };
    });
    this.optimizer = { ...value, buffers };
    return this.optimizer;
  }

  /** Validate a batch, pick (or build) its plan and upload its inputs. */
  private prepare(batch: TokenBatch, options: LogProbOptions, method: string): { plan: Plan; lengths: number[] } {
    const n = batch.promptIds.length;
    const temperature = options.temperature ?? 1;
    if (n === 0 || batch.completionIds.length !== n) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.${method}: ${n} prompts but ${batch.completionIds.length} completions (need the same, ≥ 1)`);
    }
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.${method}: temperature must be > 0, received ${temperature}`);
    }
    const vocab = this.config.vocabSize;
    const check = (row: readonly number[], what: string, r: number) =>
      row.forEach((token, j) => {
        if (!Number.isInteger(token) || token < 0 || token >= vocab) {
          throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.${method}: ${what} ${r} token ${j} = ${token} is outside [0, ${vocab})`);
        }
      });
    batch.promptIds.forEach((row, r) => {
      if (row.length === 0) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.${method}: prompt ${r} is empty (every prompt needs at least one token, e.g. BOS)`);
      check(row, 'prompt', r);
    });
    batch.completionIds.forEach((row, r) => check(row, 'completion', r));
    const lengths = batch.completionIds.map((row) => row.length);
    const maxLp = Math.max(...batch.promptIds.map((row) => row.length));
    const maxTc = Math.max(1, ...lengths);
    const lp = roundUp(maxLp, BUCKET);
    const tc = roundUp(maxTc, BUCKET);
    if (this.config.architecture === 'gpt2' && maxLp + maxTc > this.config.maxPositions) {
      throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `WebGpuPolicyEngine.${method}: ${maxLp + maxTc} tokens exceed GPT-2's ${this.config.maxPositions} positions (n_positions)`);
    }
    const plan = this.plan(n, lp, tc, false);
    const s = plan.s;
    const ids = new Uint32Array(n * s).fill(this.padTokenId);
    const mask = new Uint32Array(n * s);
    const sel = new Uint32Array(n * tc);
    const targets = new Uint32Array(n * tc);
    for (let r = 0; r < n; r += 1) {
      const prompt = batch.promptIds[r]!;
      const completion = batch.completionIds[r]!;
      const start = r * s + lp - prompt.length;
      prompt.forEach((token, j) => ((ids[start + j] = token), (mask[start + j] = 1)));
      completion.forEach((token, j) => ((ids[r * s + lp + j] = token), (mask[r * s + lp + j] = 1), (targets[r * tc + j] = token)));
      for (let j = 0; j < tc; j += 1) sel[r * tc + j] = r * s + lp - 1 + j;
    }
    const pos = new Uint32Array(n * s);
    for (let r = 0; r < n; r += 1) {
      let count = 0;
      for (let j = 0; j < s; j += 1) {
        const m = mask[r * s + j]!;
        count += m;
        pos[r * s + j] = m ? count - 1 : 1;
      }
    }
    this.writeInputs(plan, ids, mask, pos, sel, targets, 1 / temperature);
    return { plan, lengths };
  }

  private writeInputs(plan: Plan, ids: Uint32Array, mask: Uint32Array, pos: Uint32Array, sel: Uint32Array, targets: Uint32Array, invTemperature: number): void {
    const ctx = this.gpu;
    const i = plan.inputs;
    ctx.write(i.ids, ids);
    ctx.write(i.mask, mask);
    ctx.write(i.pos, pos);
    ctx.write(i.sel, sel);
    ctx.write(i.targets, targets);
    ctx.write(i.wtePlan, buildScatterPlan(ids));
    if (i.wpePlan) ctx.write(i.wpePlan, buildScatterPlan(pos));
    if (i.ropeCos && i.ropeSin) {
      const { cos, sin } = ropeTables(pos, this.invFreq!);
      ctx.write(i.ropeCos, cos);
      ctx.write(i.ropeSin, sin);
    }
    ctx.write(this.invTemperature, Float32Array.of(invTemperature, 0, 0, 0));
  }

  /** What generation-plan.ts reads of this engine. */
  private generationModel(): GenerationModel {
    return { ctx: this.gpu, config: this.config, layout: this.layout, params: this.params, invFreq: this.invFreq };
  }

  /** The generation plan of a shape (cached, least recently used evicted), validated before use. */
  private async generationPlan(shape: GenerationShape): Promise<GenerationPlan> {
    const key = generationKey(shape);
    const cached = this.generationPlans.get(key);
    if (cached) {
      this.generationPlans.delete(key);
      this.generationPlans.set(key, cached);
      return cached;
    }
    while (this.generationPlans.size >= MAX_GENERATION_PLANS) {
      const [oldest, victim] = this.generationPlans.entries().next().value!;
      victim.buffers.forEach((b) => b.destroy());
      this.generationPlans.delete(oldest);
    }
    this.gpu.device.pushErrorScope('validation');
    let built: { value: GenerationPlan; buffers: GPUBuffer[] };
    try {
      built = this.gpu.track(() => buildGenerationPlan(this.generationModel(), shape));
    } catch (error) {
      void this.gpu.device.popErrorScope();
      throw error;
    }
    const error = await this.gpu.device.popErrorScope();
    if (error) {
      built.buffers.forEach((b) => b.destroy());
      throw new PolicyWebGpuError('WEBGPU_INVALID_STATE', `WebGpuPolicyEngine.generate: recording the generation plan ${key} failed WebGPU validation: ${error.message}`);
    }
    const plan = { ...built.value, buffers: built.buffers };
    this.generationPlans.set(key, plan);
    return plan;
  }

  /** Throw, naming the WebGPU message, when building `plan` failed validation (once per plan). */
  private async validated(plan: Plan): Promise<void> {
    if (!plan.validation) return;
    const error = await plan.validation;
    plan.validation = null;
    if (error) {
      this.plans.delete(plan.key);
      plan.buffers.forEach((b) => b.destroy());
      throw new PolicyWebGpuError('WEBGPU_INVALID_STATE', `WebGpuPolicyEngine: recording the ${plan.n}×${plan.s}-token plan failed WebGPU validation: ${error.message}`);
    }
  }

  private async runForward(plan: Plan, lengths: number[], withEntropy: boolean): Promise<PerTokenResult> {
    await this.validated(plan);
    this.submit([...this.weightRefresh(), ...plan.forward]);
    const out = await this.gpu.readF32(plan.out, plan.sel * 3);
    const logProbs = lengths.map((len, r) => Float32Array.from({ length: len }, (_, j) => out[3 * (r * plan.tc + j)]!));
    if (!withEntropy) return { logProbs };
    const entropy = lengths.map((len, r) => Float32Array.from({ length: len }, (_, j) => out[3 * (r * plan.tc + j) + 1]!));
    return { logProbs, entropy };
  }

  /** The plan of a shape (cached, least recently used evicted; the pending forwardTrain's plan is kept). */
  private plan(n: number, lp: number, tc: number, allRows: boolean): Plan & { logitsBuffer?: GPUBuffer } {
    const key = `${n}x${lp}+${tc}${allRows ? ':all' : ''}`;
    const cached = this.plans.get(key);
    if (cached) {
      this.plans.delete(key);
      this.plans.set(key, cached);
      return cached;
    }
    while (this.plans.size >= MAX_PLANS) {
      const victim = [...this.plans.values()].find((p) => p !== this.trained?.plan);
      if (!victim) break;
      victim.buffers.forEach((b) => b.destroy());
      this.plans.delete(victim.key);
    }
    this.gpu.device.pushErrorScope('validation');
    let built: ReturnType<typeof this.gpu.track<ReturnType<typeof this.buildPlan>>>;
    try {
      built = this.gpu.track(() => this.buildPlan(key, n, lp, tc, allRows));
    } catch (error) {
      void this.gpu.device.popErrorScope();
      throw error;
    }
    const plan = { ...built.value, buffers: built.buffers, validation: this.gpu.device.popErrorScope() };
    this.plans.set(key, plan);
    return plan;
  }

  private buildPlan(key: string, n: number, lp: number, tc: number, allRows: boolean): Omit<Plan, 'buffers' | 'validation'> & { logitsBuffer: GPUBuffer } {
    const ctx = this.gpu;
    const cfg = this.config;
    const gpt2 = cfg.architecture === 'gpt2';
    const f16 = this.precision === 'f16';
    const layerRecompute = this.recompute === 'layer';
    const s = lp + tc;
    const R = n * s;
    const sel = allRows ? n * s : n * tc;
    const C = cfg.hiddenSize;
    const H = cfg.numHeads;
    const Hkv = cfg.numKvHeads;
    const D = cfg.headDim;
    const HD = H * D;
    const W = (H + 2 * Hkv) * D;
    const M = cfg.intermediateSize;
    const PW = gpt2 ? M : 2 * M;
    const V = cfg.vocabSize;
    const L = cfg.numLayers;
    const limit = ctx.device.limits.maxStorageBufferBindingSize;
    const memory: PlanMemory = { activations: 0, backward: 0, inputs: 0, total: 0 };
    /** A buffer of `count` fp32 or f16 elements, counted under `role` (plan-memory.ts mirrors these). */
    const alloc = (role: 'activations' | 'backward' | 'inputs', label: string, count: number, type: 'f32' | 'f16' = 'f32'): GPUBuffer => {
      const bytes = type === 'f32' ? count * 4 : f16Bytes(count);
      if (bytes > limit) {
        throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', `batch ${n}×${s} tokens: activation ${label} needs ${bytes} bytes in one binding; this adapter allows ${limit} (maxStorageBufferBindingSize): use smaller micro-batches`);
      }
      const buffer = ctx.buffer(label, bytes);
      memory[role] += buffer.size;
      return buffer;
    };
    const whole = (buffer: GPUBuffer): Slice => ({ buffer });
    const P = (...names: string[]) => paramSlice(this.layout, this.params, ...names);
    /** A matmul weight as the B operand's buffer and element offset: the fp32 master or its f16 copy. */
    const Wm = (...names: string[]): { slice: Slice; offset: number } =>
      f16 ? paramSliceF16(this.layout, this.f16Weights!.params, ...names) : { slice: P(...names), offset: 0 };
    const grads = this.ensureGrads();
    const G = (...names: string[]) => paramSlice(this.layout, grads, ...names);
    const has = (name: string) => this.layout.byName.has(name);

    const inputs: Plan['inputs'] = {
      ids: alloc('inputs', 'ids', R),
      mask: alloc('inputs', 'mask', R),
      pos: alloc('inputs', 'pos', R),
      ropeCos: gpt2 ? null : alloc('inputs', 'rope.cos', (R * D) / 2),
      ropeSin: gpt2 ? null : alloc('inputs', 'rope.sin', (R * D) / 2),
      sel: alloc('inputs', 'sel', sel),
      targets: alloc('inputs', 'targets', sel),
      gradLogp: alloc('inputs', 'gradLogp', sel),
      wtePlan: alloc('inputs', 'wte.plan', 3 * R + 2),
      wpePlan: gpt2 ? alloc('inputs', 'wpe.plan', 3 * R + 2) : null,
    };
    // Activations kept for the backward. Matmul-only inputs (ln₁, ln₂, the MLP activation) are f16
    // under mixed precision; with recomputation one block set is shared by all blocks.
    const t = f16 ? 'f16' : 'f32';
    const res = Array.from({ length: L + 1 }, (_, l) => alloc('activations', `res.${l}`, R * C));
    const blockSet = (tag: string) => ({
      mid: alloc('activations', `mid.${tag}`, R * C),
      ln1: alloc('activations', `ln1.${tag}`, R * C, t),
      ln2: alloc('activations', `ln2.${tag}`, R * C, t),
      st1: alloc('activations', `ln1.stats.${tag}`, R * 2),
      st2: alloc('activations', `ln2.stats.${tag}`, R * 2),
      qkv: alloc('activations', `qkv.${tag}`, R * W),
      att: alloc('activations', `att.${tag}`, R * HD),
      lse: alloc('activations', `lse.${tag}`, n * H * s),
      pre: alloc('activations', `mlp.pre.${tag}`, R * PW),
      act: alloc('activations', `mlp.act.${tag}`, R * M, t),
    });
    const sets = layerRecompute ? [blockSet('shared')] : Array.from({ length: L }, (_, l) => blockSet(String(l)));
    const block = (l: number) => sets[layerRecompute ? 0 : l]!;
    // f16: the fp32 outputs of the norms and of the MLP activation before their cast (the final
    // norm's output stays here), and the f16 copy of the attention output for its projection.
    const stage = f16 ? alloc('activations', 'f16.stage', R * Math.max(C, M)) : null;
    const att16 = f16 ? alloc('activations', 'att.f16', R * HD, 'f16') : null;
    const lnf = stage ?? alloc('activations', 'lnf', R * C);
    const stf = alloc('activations', 'lnf.stats', R * 2);
    const hsel = alloc('activations', 'hsel', sel * C);
    const hsel16 = f16 ? alloc('activations', 'hsel.f16', sel * C, 'f16') : null;
    const logits = alloc('activations', 'logits', sel * V);
    const out = alloc('activations', 'cls.out', sel * 3);
    const dres = alloc('backward', 'd.res', R * C);
    const dln = alloc('backward', 'd.ln', R * C);
    const dqkv = alloc('backward', 'd.qkv', R * W);
    const datt = alloc('backward', 'd.att', R * HD);
    const delta = alloc('backward', 'd.delta', n * H * s);
    // grouped-query attention: each query head's share of dk and dv before the sum over its group
    const kvScratchFloats = attentionBackwardScratchFloats({ batch: n, seq: s, heads: H, kvHeads: Hkv, headDim: D });
    const kvScratch = kvScratchFloats > 0 ? whole(alloc('backward', 'd.kv.shares', kvScratchFloats)) : undefined;
    const dact = alloc('backward', 'd.act', R * M);
    const dpre = alloc('backward', 'd.pre', R * PW);
    const dhsel = alloc('backward', 'd.hsel', sel * C);
    // partial sums of the two-pass column reductions (bias and norm-parameter gradients)
    const colScratch = alloc('backward', 'd.columns', Math.ceil(R / COLUMN_CHUNK) * Math.max(2 * C, W, PW));
    // f16: the f16 copy of the dY of one matmul backward (the largest: dlogits, d residual, d pre or d qkv) and its [s, 1/s]
    const dyMax = Math.max(sel * V, R * C, R * PW, R * W);
    const dy16 = f16 ? alloc('backward', 'd.f16', dyMax, 'f16') : null;
    const scalePartial = f16 ? alloc('backward', 'd.f16.scale.partial', f16ScalePartials(dyMax)) : null;
    const scale = f16 ? alloc('backward', 'd.f16.scale', 2) : null;
    memory.total = memory.activations + memory.backward + memory.inputs;

    const rowMajor = (buffer: GPUBuffer, width: number): MatrixView => ({ slice: whole(buffer), rowStride: width, colStride: 1 });
    /** One matmul: f16 operands with fp32 accumulation under mixed precision, else fp32. */
    const mm = (label: string, args: MatmulF16Args): Command => (f16 ? matmulF16(ctx, label, { ...args, path: this.f16MatmulPath }) : matmul(ctx, label, args));
    /** fp32 → f16 copy of `count` elements (mixed precision only). */
    const toF16 = (label: string, src: GPUBuffer, dst: GPUBuffer, count: number): Command => castF32ToF16(ctx, label, { n: count, src: { slice: whole(src) }, dst: { slice: whole(dst) } });
    /**
     * The dY operand of a matmul backward: fp32 dY itself, or (mixed precision) its scale
     * [s, 1/s] and the f16 copy of s·dY, with the factor 1/s for the matmuls (kernels/f16-scale.ts).
     */
    const gradOperand = (label: string, dy: GPUBuffer, count: number): { commands: Command[]; a: GPUBuffer; scaled: Pick<MatmulF16Args, 'alphaScale'> } =>
      f16
        ? {
            commands: [
              ...f16Scale(ctx, `${label}.scale`, { n: count, x: whole(dy), partial: whole(scalePartial!), out: whole(scale!) }),
              castF32ToF16(ctx, `${label}.f16`, { n: count, src: { slice: whole(dy) }, dst: { slice: whole(dy16!) }, scale: { slice: whole(scale!) } }),
            ],
            a: dy16!,
            scaled: { alphaScale: { slice: whole(scale!), offset: 1 } },
          }
        : { commands: [], a: dy, scaled: {} };
    /** Y[R, out] (+)= X·W, W a Conv1D [in, out] parameter (GPT-2). */
    const conv = (label: string, x: GPUBuffer, inDim: number, w: string[], outDim: number, y: GPUBuffer, opts: { bias?: Slice; accumulate?: boolean } = {}) =>
      mm(label, { m: R, n: outDim, k: inDim, a: rowMajor(x, inDim), b: { ...Wm(...w), rowStride: outDim, colStride: 1 }, c: { slice: whole(y) }, ...(opts.bias ? { bias: { slice: opts.bias } } : {}), ...(opts.accumulate ? { accumulate: true } : {}) });
    /** Y[R, out] (+)= X·Wᵀ, W an nn.Linear [out, in] parameter. */
    const linear = (label: string, x: GPUBuffer, inDim: number, w: string[], outDim: number, y: GPUBuffer, opts: { bias?: Slice | undefined; accumulate?: boolean } = {}) =>
      mm(label, { m: R, n: outDim, k: inDim, a: rowMajor(x, inDim), b: { ...Wm(...w), rowStride: 1, colStride: inDim }, c: { slice: whole(y) }, ...(opts.bias ? { bias: { slice: opts.bias } } : {}), ...(opts.accumulate ? { accumulate: true } : {}) });
    /** Backward of Y = X·W (Conv1D): dX = dY·Wᵀ (overwrite), dW += Xᵀ·dY, db += Σ dY (fp32 dY). */
    const convBack = (label: string, x: GPUBuffer, inDim: number, w: string[], dw: Slice, db: Slice | undefined, outDim: number, dy: GPUBuffer, dx: GPUBuffer): Command[] => {
      const g = gradOperand(label, dy, R * outDim);
      return [
        ...g.commands,
        mm(`${label}.dx`, { m: R, n: inDim, k: outDim, a: rowMajor(g.a, outDim), b: { ...Wm(...w), rowStride: 1, colStride: outDim }, c: { slice: whole(dx) }, ...g.scaled }),
        mm(`${label}.dw`, { m: inDim, n: outDim, k: R, a: { slice: whole(x), rowStride: 1, colStride: inDim }, b: rowMajor(g.a, outDim), c: { slice: dw }, accumulate: true, ...g.scaled }),
        ...(db ? biasGrad(ctx, `${label}.db`, { m: R, n: outDim, dy: { slice: whole(dy) }, db: { slice: db }, scratch: whole(colScratch) }) : []),
      ];
    };
    /** Backward of Y = X·Wᵀ (Linear): dX = dY·W, dW += dYᵀ·X, db += Σ dY (fp32 dY). */
    const linearBack = (label: string, x: GPUBuffer, inDim: number, w: string[], dw: Slice, db: Slice | undefined, outDim: number, dy: GPUBuffer, dx: GPUBuffer): Command[] => {
      const g = gradOperand(label, dy, R * outDim);
      return [
        ...g.commands,
        mm(`${label}.dx`, { m: R, n: inDim, k: outDim, a: rowMajor(g.a, outDim), b: { ...Wm(...w), rowStride: inDim, colStride: 1 }, c: { slice: whole(dx) }, ...g.scaled }),
        mm(`${label}.dw`, { m: outDim, n: inDim, k: R, a: { slice: whole(g.a), rowStride: 1, colStride: outDim }, b: rowMajor(x, inDim), c: { slice: dw }, accumulate: true, ...g.scaled }),
        ...(db ? biasGrad(ctx, `${label}.db`, { m: R, n: outDim, dy: { slice: whole(dy) }, db: { slice: db }, scratch: whole(colScratch) }) : []),
      ];
    };
    const copy = (label: string, src: GPUBuffer, dst: GPUBuffer): Command => ({ kind: 'copy', label, src, srcOffset: 0, dst, dstOffset: 0, size: R * C * 4 });
    const clear = (label: string, buffer: GPUBuffer): Command => ({ kind: 'clear', label, buffer, offset: 0, size: buffer.size });
    const attnShape = { batch: n, seq: s, heads: H, kvHeads: Hkv, headDim: D };
    const rope = { tokens: R, heads: H + Hkv, headDim: D, width: W, cos: whole(inputs.ropeCos ?? inputs.ids), sin: whole(inputs.ropeSin ?? inputs.ids) };
    const norm = (label: string, x: GPUBuffer, y: GPUBuffer, stats: GPUBuffer, w: string, b: string | null): Command =>
      gpt2
        ? layerNormForward(ctx, label, { rows: R, c: C, eps: cfg.normEps, x: whole(x), weight: P(w), bias: P(b!), y: whole(y), stats: whole(stats) })
        : rmsNormForward(ctx, label, { rows: R, c: C, eps: cfg.normEps, x: whole(x), weight: P(w), y: whole(y), rstd: whole(stats) });
    /** A norm whose output only matmuls read: fp32 into `y`, or (mixed precision) fp32 into the stage, then f16 into `y`. */
    const normForMatmul = (label: string, x: GPUBuffer, y: GPUBuffer, stats: GPUBuffer, w: string, b: string | null): Command[] =>
      stage ? [norm(label, x, stage, stats, w, b), toF16(`${label}.f16`, stage, y, R * C)] : [norm(label, x, y, stats, w, b)];
    /** The attention output as the projection's A operand: fp32 itself, or its f16 copy (cast first). */
    const attOperand = (label: string, att: GPUBuffer): { commands: Command[]; a: GPUBuffer } =>
      att16 ? { commands: [toF16(label, att, att16, R * HD)], a: att16 } : { commands: [], a: att };
    const normBack = (label: string, x: GPUBuffer, dy: GPUBuffer, stats: GPUBuffer, w: string, b: string | null): Command[] =>
      gpt2
        ? layerNormBackward(ctx, label, { rows: R, c: C, x: whole(x), weight: P(w), dy: whole(dy), stats: whole(stats), dx: whole(dres), dweight: G(w), dbias: G(b!), scratch: whole(colScratch) })
        : rmsNormBackward(ctx, label, { rows: R, c: C, x: whole(x), weight: P(w), dy: whole(dy), rstd: whole(stats), dx: whole(dres), dweight: G(w), scratch: whole(colScratch) });
    const embed = gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
    const head = cfg.tieWordEmbeddings ? embed : 'lm_head.weight';

    /**
     * Block l's forward from res[l] into its activation set. `again` (recomputation before the
     * backward): the same commands in the same order, labelled `recompute.…`, without the last
     * two, which only write res[l + 1] (already there, and read by no backward of block l).
     */
    const blockForward = (l: number, again: boolean): Command[] => {
      const b = block(l);
      const tag = again ? 'recompute.' : '';
      const commands: Command[] = [];
      if (gpt2) {
        const p = `transformer.h.${l}`;
        const att = attOperand(`${tag}att.${l}.f16`, b.att);
        commands.push(
          ...normForMatmul(`${tag}ln_1.${l}`, res[l]!, b.ln1, b.st1, `${p}.ln_1.weight`, `${p}.ln_1.bias`),
          conv(`${tag}c_attn.${l}`, b.ln1, C, [`${p}.attn.c_attn.weight`], 3 * C, b.qkv, { bias: P(`${p}.attn.c_attn.bias`) }),
          attentionForward(ctx, `${tag}attention.${l}`, { ...attnShape, ...(cfg.scaleAttnByInverseLayerIdx ? { scale: 1 / Math.sqrt(D) / (l + 1) } : {}), qkv: whole(b.qkv), mask: whole(inputs.mask), out: whole(b.att), lse: whole(b.lse) }),
          copy(`${tag}residual.${l}`, res[l]!, b.mid),
          ...att.commands,
          conv(`${tag}attn.c_proj.${l}`, att.a, C, [`${p}.attn.c_proj.weight`], C, b.mid, { bias: P(`${p}.attn.c_proj.bias`), accumulate: true }),
          ...normForMatmul(`${tag}ln_2.${l}`, b.mid, b.ln2, b.st2, `${p}.ln_2.weight`, `${p}.ln_2.bias`),
          conv(`${tag}c_fc.${l}`, b.ln2, C, [`${p}.mlp.c_fc.weight`], M, b.pre),
          geluForward(ctx, `${tag}gelu.${l}`, { rows: R, n: M, x: whole(b.pre), bias: P(`${p}.mlp.c_fc.bias`), y: whole(stage ?? b.act) }),
          ...(stage ? [toF16(`${tag}gelu.${l}.f16`, stage, b.act, R * M)] : []),
        );
        if (!again) {
          commands.push(
            copy(`residual2.${l}`, b.mid, res[l + 1]!),
            conv(`mlp.c_proj.${l}`, b.act, M, [`${p}.mlp.c_proj.weight`], C, res[l + 1]!, { bias: P(`${p}.mlp.c_proj.bias`), accumulate: true }),
          );
        }
      } else {
        const p = `model.layers.${l}`;
        const a = `${p}.self_attn`;
        const qkvB = has(`${a}.q_proj.bias`) ? P(`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`) : undefined;
        const guB = has(`${p}.mlp.gate_proj.bias`) ? P(`${p}.mlp.gate_proj.bias`, `${p}.mlp.up_proj.bias`) : undefined;
        const att = attOperand(`${tag}att.${l}.f16`, b.att);
        commands.push(
          ...normForMatmul(`${tag}input_layernorm.${l}`, res[l]!, b.ln1, b.st1, `${p}.input_layernorm.weight`, null),
          linear(`${tag}qkv_proj.${l}`, b.ln1, C, [`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`], W, b.qkv, { bias: qkvB }),
          ropeForward(ctx, `${tag}rope.${l}`, { ...rope, x: whole(b.qkv) }),
          attentionForward(ctx, `${tag}attention.${l}`, { ...attnShape, qkv: whole(b.qkv), mask: whole(inputs.mask), out: whole(b.att), lse: whole(b.lse) }),
          copy(`${tag}residual.${l}`, res[l]!, b.mid),
          ...att.commands,
          linear(`${tag}o_proj.${l}`, att.a, HD, [`${a}.o_proj.weight`], C, b.mid, { bias: has(`${a}.o_proj.bias`) ? P(`${a}.o_proj.bias`) : undefined, accumulate: true }),
          ...normForMatmul(`${tag}post_attention_layernorm.${l}`, b.mid, b.ln2, b.st2, `${p}.post_attention_layernorm.weight`, null),
          linear(`${tag}gate_up_proj.${l}`, b.ln2, C, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`], 2 * M, b.pre, { bias: guB }),
          swigluForward(ctx, `${tag}swiglu.${l}`, { rows: R, m: M, gu: whole(b.pre), y: whole(stage ?? b.act) }),
          ...(stage ? [toF16(`${tag}swiglu.${l}.f16`, stage, b.act, R * M)] : []),
        );
        if (!again) {
          commands.push(
            copy(`residual2.${l}`, b.mid, res[l + 1]!),
            linear(`down_proj.${l}`, b.act, M, [`${p}.mlp.down_proj.weight`], C, res[l + 1]!, { bias: has(`${p}.mlp.down_proj.bias`) ? P(`${p}.mlp.down_proj.bias`) : undefined, accumulate: true }),
          );
        }
      }
      return commands;
    };

    // ------------------------------------------------------------ forward
    const forward: Command[] = [
      encoderForward(ctx, 'encoder', { tokens: R, c: C, ids: whole(inputs.ids), wte: P(embed), ...(gpt2 ? { positions: { ids: whole(inputs.pos), wpe: P('transformer.wpe.weight') } } : {}), out: whole(res[0]!) }),
    ];
    for (let l = 0; l < L; l += 1) forward.push(...blockForward(l, false));
    const fw = gpt2 ? 'transformer.ln_f.weight' : 'model.norm.weight';
    const fb = gpt2 ? 'transformer.ln_f.bias' : null;
    forward.push(
      norm('final_norm', res[L]!, lnf, stf, fw, fb),
      gatherRows(ctx, 'select_rows', { rows: sel, c: C, index: whole(inputs.sel), src: whole(lnf), dst: whole(hsel) }),
      ...(hsel16 ? [toF16('select_rows.f16', hsel, hsel16, sel * C)] : []),
      mm('lm_head', { m: sel, n: V, k: C, a: rowMajor(hsel16 ?? hsel, C), b: { ...Wm(head), rowStride: 1, colStride: C }, c: { slice: whole(logits) } }),
      classifierForward(ctx, 'classifier', { rows: sel, vocab: V, logits: whole(logits), targets: whole(inputs.targets), invTemperature: whole(this.invTemperature), out: whole(out) }),
    );

    // ------------------------------------------------------------ backward
    const gHead = gradOperand('lm_head', logits, sel * V);
    const backward: Command[] = [
      classifierBackward(ctx, 'classifier.bwd', { rows: sel, vocab: V, logits: whole(logits), targets: whole(inputs.targets), invTemperature: whole(this.invTemperature), stats: whole(out), gradLogProbs: whole(inputs.gradLogp) }),
      // hsel = h·Headᵀ: dhsel = dlogits·Head, dHead += dlogitsᵀ·hsel
      ...gHead.commands,
      mm('lm_head.dx', { m: sel, n: C, k: V, a: { slice: whole(gHead.a), rowStride: V, colStride: 1 }, b: { ...Wm(head), rowStride: C, colStride: 1 }, c: { slice: whole(dhsel) }, ...gHead.scaled }),
      mm('lm_head.dw', { m: V, n: C, k: sel, a: { slice: whole(gHead.a), rowStride: 1, colStride: V }, b: { slice: whole(hsel16 ?? hsel), rowStride: C, colStride: 1 }, c: { slice: G(head) }, accumulate: true, ...gHead.scaled }),
      clear('clear.d.ln', dln),
      scatterRows(ctx, 'select_rows.bwd', { rows: sel, c: C, index: whole(inputs.sel), src: whole(dhsel), dst: whole(dln) }),
      clear('clear.d.res', dres),
      ...normBack('final_norm.bwd', res[L]!, dln, stf, fw, fb),
    ];
    for (let l = L - 1; l >= 0; l -= 1) {
      // Recomputation: block l's activations again, from res[l] (the last block's are still in the
      // shared set: nothing between its forward and this backward writes them).
      if (layerRecompute && l < L - 1) backward.push(...blockForward(l, true));
      const b = block(l);
      if (gpt2) {
        const p = `transformer.h.${l}`;
        const att = attOperand(`att.${l}.bwd.f16`, b.att);
        backward.push(
          ...convBack(`mlp.c_proj.${l}`, b.act, M, [`${p}.mlp.c_proj.weight`], G(`${p}.mlp.c_proj.weight`), G(`${p}.mlp.c_proj.bias`), C, dres, dact),
          geluBackward(ctx, `gelu.${l}.bwd`, { rows: R, n: M, x: whole(b.pre), bias: P(`${p}.mlp.c_fc.bias`), dy: whole(dact), dx: whole(dpre) }),
          ...convBack(`c_fc.${l}`, b.ln2, C, [`${p}.mlp.c_fc.weight`], G(`${p}.mlp.c_fc.weight`), G(`${p}.mlp.c_fc.bias`), M, dpre, dln),
          ...normBack(`ln_2.${l}.bwd`, b.mid, dln, b.st2, `${p}.ln_2.weight`, `${p}.ln_2.bias`),
          ...att.commands,
          ...convBack(`attn.c_proj.${l}`, att.a, C, [`${p}.attn.c_proj.weight`], G(`${p}.attn.c_proj.weight`), G(`${p}.attn.c_proj.bias`), C, dres, datt),
          ...attentionBackward(ctx, `attention.${l}.bwd`, { ...attnShape, ...(cfg.scaleAttnByInverseLayerIdx ? { scale: 1 / Math.sqrt(D) / (l + 1) } : {}), qkv: whole(b.qkv), mask: whole(inputs.mask), out: whole(b.att), dout: whole(datt), lse: whole(b.lse), delta: whole(delta), dqkv: whole(dqkv), ...(kvScratch ? { kvScratch } : {}) }),
          ...convBack(`c_attn.${l}`, b.ln1, C, [`${p}.attn.c_attn.weight`], G(`${p}.attn.c_attn.weight`), G(`${p}.attn.c_attn.bias`), 3 * C, dqkv, dln),
          ...normBack(`ln_1.${l}.bwd`, res[l]!, dln, b.st1, `${p}.ln_1.weight`, `${p}.ln_1.bias`),
        );
      } else {
        const p = `model.layers.${l}`;
        const a = `${p}.self_attn`;
        const qkvNames = [`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`];
        const qkvBias = has(`${a}.q_proj.bias`) ? [`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`] : null;
        const guNames = [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`];
        const guBias = has(`${p}.mlp.gate_proj.bias`) ? [`${p}.mlp.gate_proj.bias`, `${p}.mlp.up_proj.bias`] : null;
        const optG = (name: string) => (has(name) ? G(name) : undefined);
        const att = attOperand(`att.${l}.bwd.f16`, b.att);
        backward.push(
          ...linearBack(`down_proj.${l}`, b.act, M, [`${p}.mlp.down_proj.weight`], G(`${p}.mlp.down_proj.weight`), optG(`${p}.mlp.down_proj.bias`), C, dres, dact),
          swigluBackward(ctx, `swiglu.${l}.bwd`, { rows: R, m: M, gu: whole(b.pre), dy: whole(dact), dgu: whole(dpre) }),
          ...linearBack(`gate_up_proj.${l}`, b.ln2, C, guNames, G(...guNames), guBias ? G(...guBias) : undefined, 2 * M, dpre, dln),
          ...normBack(`post_attention_layernorm.${l}.bwd`, b.mid, dln, b.st2, `${p}.post_attention_layernorm.weight`, null),
          ...att.commands,
          ...linearBack(`o_proj.${l}`, att.a, HD, [`${a}.o_proj.weight`], G(`${a}.o_proj.weight`), optG(`${a}.o_proj.bias`), C, dres, datt),
          ...attentionBackward(ctx, `attention.${l}.bwd`, { ...attnShape, qkv: whole(b.qkv), mask: whole(inputs.mask), out: whole(b.att), dout: whole(datt), lse: whole(b.lse), delta: whole(delta), dqkv: whole(dqkv), ...(kvScratch ? { kvScratch } : {}) }),
          ropeBackward(ctx, `rope.${l}.bwd`, { ...rope, x: whole(dqkv) }),
          ...linearBack(`qkv_proj.${l}`, b.ln1, C, qkvNames, G(...qkvNames), qkvBias ? G(...qkvBias) : undefined, W, dqkv, dln),
          ...normBack(`input_layernorm.${l}.bwd`, res[l]!, dln, b.st1, `${p}.input_layernorm.weight`, null),
        );
      }
    }
    backward.push(encoderBackward(ctx, 'encoder.bwd', { tokens: R, c: C, plan: whole(inputs.wtePlan), dout: whole(dres), dtable: G(embed) }));
    if (gpt2) backward.push(encoderBackward(ctx, 'encoder.wpe.bwd', { tokens: R, c: C, plan: whole(inputs.wpePlan!), dout: whole(dres), dtable: G('transformer.wpe.weight') }));
    return { key, n, lp, tc, s, rows: R, sel, inputs, out, forward, backward, memory, logitsBuffer: logits };
  }
}
