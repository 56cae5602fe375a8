/**
 * The public types of this package that other files' declarations need, kept free of DOM and
 * WebGPU types (a Node consumer compiles them with only `@types/node`) and of @vlm-grpo/vlm's
 * declarations (which pull in TensorFlow.js's): the parts of vlm's `ModelConfig` and `WeightSpec`
 * the engine reads (vlm's `parseModelConfig` and `weightSpecs` results are assignable to them),
 * the parameter layout, and opaque handles of the device and the profiler.
 */

/** RoPE frequency scaling (as vlm's `RopeScaling`). */
export interface EngineRopeScaling {
  /** Scaling kind. */
  type: 'default' | 'linear' | 'llama3';
  /** Factor (`linear`, `llama3`). */
  factor: number;
  /** `llama3`: low-frequency factor. */
  lowFreqFactor: number;
  /** `llama3`: high-frequency factor. */
  highFreqFactor: number;
  /** `llama3`: original context length. */
  originalMaxPositions: number;
}

/** A normalised model configuration (the fields of vlm's `ModelConfig` the engine uses). */
export interface EngineModelConfig {
  /** Architecture family. */
  architecture: 'gpt2' | 'llama' | 'qwen2';
  /** Vocabulary size. */
  vocabSize: number;
  /** Model width C. */
  hiddenSize: number;
  /** Decoder blocks. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads. */
  numKvHeads: number;
  /** Head width D. */
  headDim: number;
  /** MLP inner width. */
  intermediateSize: number;
  /** Longest sequence (GPT-2: rows of the position embedding). */
  maxPositions: number;
  /** Output head shares the input embedding. */
  tieWordEmbeddings: boolean;
  /** Norm epsilon. */
  normEps: number;
  /** RoPE base θ (unused by GPT-2). */
  ropeTheta: number;
  /** RoPE scaling. */
  ropeScaling: EngineRopeScaling;
  /** GPT-2 `scale_attn_by_inverse_layer_idx`. */
  scaleAttnByInverseLayerIdx: boolean;
  /** EOS token ids. */
  eosTokenIds: number[];
  /** Padding id, if any. */
  padTokenId: number | null;
}

/** One parameter tensor of an architecture (as vlm's `WeightSpec`). */
export interface EngineWeightSpec {
  /** Hugging Face tensor name. */
  name: string;
  /** Hugging Face shape. */
  shape: number[];
  /** Kind: decides weight decay (matrices and embeddings decay). */
  kind: 'embedding' | 'matrix' | 'bias' | 'norm';
}

/** One parameter tensor in the flat buffers. */
export interface ParamEntry {
  /** Hugging Face tensor name. */
  name: string;
  /** Hugging Face shape. */
  shape: number[];
  /** Elements. */
  size: number;
  /** Element offset in the flat buffers. */
  offset: number;
  /** AdamW weight decay applies. */
  decay: boolean;
}

/** The flat layout of all parameters. */
export interface ParamLayout {
  /** Entries in the architecture's tensor order (`weightSpecs`). */
  entries: ParamEntry[];
  /** Entries by name. */
  byName: Map<string, ParamEntry>;
  /** Elements of the flat buffers (including alignment gaps). */
  total: number;
  /** Decayed tensors occupy [0, decayEnd). */
  decayEnd: number;
}

/** A WebGPU device prepared for the engine (from `createPolicyDevice`); share it between engines. */
export interface PolicyDevice {
  /** Adapter description (vendor, architecture, device, description). */
  readonly adapterInfo: string;
  /** The device has `shader-f16`. */
  readonly hasF16: boolean;
  /** The device was created with `timestamp-query` (needed by a profiler). */
  readonly hasTimestamps: boolean;
}

/** Per-dispatch GPU times from timestamp queries (from `createProfiler`). */
export interface PolicyProfiler {
  /** Per-label total GPU milliseconds and dispatch counts recorded so far; resets the profiler. */
  collect(): Promise<Map<string, { ms: number; count: number }>>;
  /** Free the query set and buffers. */
  dispose(): void;
}

/**
 * Arithmetic of the engine's training forward and backward: `fp32` everywhere, or `f16` mixed
 * precision (f16 copies of the matmul weights and of the activations that only matmuls read,
 * f16 × f16 matmuls with fp32 accumulation; fp32 master weights, gradients, AdamW state, norms,
 * attention, softmax and classifier).
 */
export type EnginePrecision = 'fp32' | 'f16';

/**
 * Activation recomputation ("gradient checkpointing"): `none` keeps every block's activations
 * from the forward for the backward; `layer` keeps only each block's input (the residual stream)
 * and re-runs the block's forward into one shared set of buffers just before its backward.
 */
export type EngineRecompute = 'none' | 'layer';

/**
 * The f16 matmul kernel under `precision: 'f16'` (kernels/matmul-f16.ts): 'auto' (the
 * subgroup-matrix kernel where it compiled on the device, else the plain one), 'plain' (tiled,
 * fp32 arithmetic on f16 operands) or 'subgroup-matrix' (tensor cores).
 */
export type MatmulF16Path = 'auto' | 'plain' | 'subgroup-matrix';

/** A training batch shape, as the engine buckets it (prompts and completions rounded up to 8 positions). */
export interface PlanShape {
  /** Sequences N (rows of the batch). */
  sequences: number;
  /** Longest prompt, in tokens (≥ 1). */
  promptTokens: number;
  /** Longest completion, in tokens. */
  completionTokens: number;
}

/** Bytes of the GPU buffers of one recorded plan (a batch shape), by role. */
export interface PlanMemory {
  /**
   * Forward activations kept for the backward: residual stream, per-block tensors (or the one
   * shared set under recomputation), final norm, selected rows, logits (dlogits in the backward),
   * classifier output, and the f16 copies and staging buffers of mixed precision.
   */
  activations: number;
  /** Backward scratch: activation gradients, column-sum partials, the f16 gradient copy and its scale. */
  backward: number;
  /** Per-batch inputs: ids, mask, positions, RoPE tables, row selection, targets, dL/dlogp, scatter plans. */
  inputs: number;
  /** The sum of the three. */
  total: number;
}
