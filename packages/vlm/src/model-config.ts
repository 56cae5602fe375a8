/**
 * Hugging Face `config.json` → the typed configuration of one of the supported causal-LM
 * architectures. Field names and defaults follow transformers' `GPT2Config`, `LlamaConfig` and
 * `Qwen2Config` (v4 and v5 spellings: `rope_theta` at top level or in `rope_parameters`,
 * `rope_scaling` or `rope_parameters.rope_type`).
 */
import { UnsupportedArchitectureError, VlmError } from './errors.js';

/** Architectures this package builds (the `model_type` values of `config.json`). */
export const SUPPORTED_ARCHITECTURES = ['gpt2', 'llama', 'qwen2'] as const;

/**
 * Hugging Face's `gpt2` config (GPT-2 small, 124M parameters: 12 layers, 768 wide, 12 heads,
 * vocabulary 50,257, 1,024 positions, tied embeddings), for `CausalLM.fromConfig` when a
 * real-sized model with random weights is wanted (benchmarks) and no download is possible.
 */
export const GPT2_SMALL_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  tie_word_embeddings: true,
  eos_token_id: 50256,
});

/** One supported architecture. */
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** The `architectures` class names accepted, per model type. */
const CLASS_NAMES: Record<string, Architecture> = {
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
};

/** RoPE frequency scaling (`rope_scaling` / `rope_parameters`): `default`, `linear` or `llama3`. */
export interface RopeScaling {
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

/** Normalised model configuration. */
export interface ModelConfig {
  /** Architecture family. */
  architecture: Architecture;
  /** Vocabulary size (rows of the embedding). */
  vocabSize: number;
  /** Model width. */
  hiddenSize: number;
  /** Decoder blocks. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (grouped-query attention when fewer than `numHeads`). */
  numKvHeads: number;
  /** Width of one head. */
  headDim: number;
  /** MLP inner width. */
  intermediateSize: number;
  /** Longest sequence (GPT-2: rows of the position embedding). */
  maxPositions: number;
  /** Output head shares the input embedding. */
  tieWordEmbeddings: boolean;
  /** Norm epsilon (LayerNorm for GPT-2, RMSNorm otherwise). */
  normEps: number;
  /** Activation of the MLP (`gelu_new` for GPT-2, `silu` for Llama/Qwen2). */
  activation: 'gelu_new' | 'gelu' | 'relu' | 'silu';
  /** q/k/v projections have biases (Qwen2: true; GPT-2: always). */
  qkvBias: boolean;
  /** Output projection has a bias. */
  oBias: boolean;
  /** MLP projections have biases. */
  mlpBias: boolean;
  /** RoPE base θ (unused by GPT-2). */
  ropeTheta: number;
  /** RoPE scaling. */
  ropeScaling: RopeScaling;
  /** GPT-2 `scale_attn_by_inverse_layer_idx`. */
  scaleAttnByInverseLayerIdx: boolean;
  /** BOS token id, if any. */
  bosTokenId: number | null;
  /** EOS token ids (may be several). */
  eosTokenIds: number[];
  /** Padding id, if any. */
  padTokenId: number | null;
}

type Raw = Record<string, unknown>;

function num(raw: Raw, key: string, source: string, fallback?: number): number {
  const value = raw[key];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new VlmError('VLM_INVALID_CONFIG', `${source}: "${key}" is required (a number)`);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new VlmError('VLM_INVALID_CONFIG', `${source}: "${key}" must be a number, received ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveInt(raw: Raw, key: string, source: string, fallback?: number): number {
  const value = num(raw, key, source, fallback);
  if (!Number.isInteger(value) || value <= 0) {
    throw new VlmError('VLM_INVALID_CONFIG', `${source}: "${key}" must be a positive integer, received ${value}`);
  }
  return value;
}

function ids(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((item): item is number => typeof item === 'number');
  return [];
}

/** Detect the architecture of a raw config: `model_type` first, then `architectures[0]`. */
export function detectArchitecture(raw: Raw, source = 'config.json'): Architecture {
  const modelType = raw.model_type;
  if (typeof modelType === 'string' && (SUPPORTED_ARCHITECTURES as readonly string[]).includes(modelType)) {
    return modelType as Architecture;
  }
  const classes = Array.isArray(raw.architectures) ? raw.architectures : [];
  for (const name of classes) {
    if (typeof name === 'string' && CLASS_NAMES[name]) return CLASS_NAMES[name];
  }
  const found = typeof modelType === 'string' ? modelType : typeof classes[0] === 'string' ? classes[0] : '<none>';
  throw new UnsupportedArchitectureError(source, found, [
    ...SUPPORTED_ARCHITECTURES.map((name) => `${name} (${Object.keys(CLASS_NAMES).find((key) => CLASS_NAMES[key] === name)})`),
  ]);
}

function parseRope(raw: Raw, source: string): { theta: number; scaling: RopeScaling } {
  const parameters = (raw.rope_parameters ?? null) as Raw | null;
  const scalingRaw = (raw.rope_scaling ?? parameters ?? null) as Raw | null;
  const theta = num(parameters ?? {}, 'rope_theta', source, num(raw, 'rope_theta', source, 10000));
  const kind = (scalingRaw?.rope_type ?? scalingRaw?.type ?? 'default') as string;
  if (kind !== 'default' && kind !== 'linear' && kind !== 'llama3') {
    throw new VlmError(
      'VLM_INVALID_CONFIG',
      `${source}: rope scaling "${kind}" is not supported (supported: default, linear, llama3)`,
    );
  }
  const s = scalingRaw ?? {};
  return {
    theta,
    scaling: {
      type: kind,
      factor: num(s, 'factor', source, 1),
      lowFreqFactor: num(s, 'low_freq_factor', source, 1),
      highFreqFactor: num(s, 'high_freq_factor', source, 4),
      originalMaxPositions: num(s, 'original_max_position_embeddings', source, 8192),
    },
  };
}

/**
 * Parse a Hugging Face `config.json` object. Throws {@link UnsupportedArchitectureError} for
 * architectures other than GPT-2, Llama and Qwen2, and `VLM_INVALID_CONFIG` for missing or
 * malformed fields.
 */
export function parseModelConfig(raw: Raw, source = 'config.json'): ModelConfig {
  const architecture = detectArchitecture(raw, source);
  const common = {
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: ids(raw.eos_token_id),
    padTokenId: typeof raw.pad_token_id === 'number' ? raw.pad_token_id : null,
  };
  if (architecture === 'gpt2') {
    const hiddenSize = positiveInt(raw, 'n_embd', source, 768);
    const numHeads = positiveInt(raw, 'n_head', source, 12);
    const act = (raw.activation_function ?? 'gelu_new') as string;
    if (act !== 'gelu_new' && act !== 'gelu' && act !== 'relu' && act !== 'gelu_pytorch_tanh') {
      throw new VlmError('VLM_INVALID_CONFIG', `${source}: activation_function "${act}" is not supported (gelu_new, gelu, relu)`);
    }
    if (raw.scale_attn_weights === false || raw.reorder_and_upcast_attn === true || raw.add_cross_attention === true) {
      throw new VlmError(
        'VLM_INVALID_CONFIG',
        `${source}: scale_attn_weights=false, reorder_and_upcast_attn and add_cross_attention are not supported`,
      );
    }
    if (hiddenSize % numHeads !== 0) {
      throw new VlmError('VLM_INVALID_CONFIG', `${source}: n_embd ${hiddenSize} is not divisible by n_head ${numHeads}`);
    }
    return {
      architecture,
      vocabSize: positiveInt(raw, 'vocab_size', source, 50257),
      hiddenSize,
      numLayers: positiveInt(raw, 'n_layer', source, 12),
      numHeads,
      numKvHeads: numHeads,
      headDim: hiddenSize / numHeads,
      intermediateSize: typeof raw.n_inner === 'number' ? positiveInt(raw, 'n_inner', source) : 4 * hiddenSize,
      maxPositions: positiveInt(raw, 'n_positions', source, 1024),
      tieWordEmbeddings: raw.tie_word_embeddings !== false,
      normEps: num(raw, 'layer_norm_epsilon', source, 1e-5),
      activation: act === 'gelu_pytorch_tanh' ? 'gelu_new' : act,
      qkvBias: true,
      oBias: true,
      mlpBias: true,
      ropeTheta: 0,
      ropeScaling: { type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 0 },
      scaleAttnByInverseLayerIdx: raw.scale_attn_by_inverse_layer_idx === true,
      ...common,
    };
  }
  const hiddenSize = positiveInt(raw, 'hidden_size', source);
  const numHeads = positiveInt(raw, 'num_attention_heads', source);
  const numKvHeads = positiveInt(raw, 'num_key_value_heads', source, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new VlmError('VLM_INVALID_CONFIG', `${source}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const act = (raw.hidden_act ?? 'silu') as string;
  if (act !== 'silu') throw new VlmError('VLM_INVALID_CONFIG', `${source}: hidden_act "${act}" is not supported (silu)`);
  if (architecture === 'qwen2' && raw.use_sliding_window === true) {
    throw new VlmError('VLM_INVALID_CONFIG', `${source}: use_sliding_window=true is not supported`);
  }
  const rope = parseRope(raw, source);
  const attentionBias = raw.attention_bias === true;
  return {
    architecture,
    vocabSize: positiveInt(raw, 'vocab_size', source),
    hiddenSize,
    numLayers: positiveInt(raw, 'num_hidden_layers', source),
    numHeads,
    numKvHeads,
    headDim: typeof raw.head_dim === 'number' ? positiveInt(raw, 'head_dim', source) : hiddenSize / numHeads,
    intermediateSize: positiveInt(raw, 'intermediate_size', source),
    maxPositions: positiveInt(raw, 'max_position_embeddings', source, 2048),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    normEps: num(raw, 'rms_norm_eps', source, 1e-6),
    activation: 'silu',
    qkvBias: architecture === 'qwen2' ? true : attentionBias,
    oBias: architecture === 'qwen2' ? false : attentionBias,
    mlpBias: raw.mlp_bias === true,
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    scaleAttnByInverseLayerIdx: false,
    ...common,
  };
}

/** Name, shape and whether weight decay applies, of every tensor an architecture needs. */
export interface WeightSpec {
  /** Hugging Face tensor name (as written by `save_pretrained`). */
  name: string;
  /** Shape in the Hugging Face layout (`nn.Linear`: [out, in]; GPT-2 `Conv1D`: [in, out]). */
  shape: number[];
  /** Kind, for initialisation and weight-decay grouping. */
  kind: 'embedding' | 'matrix' | 'bias' | 'norm';
}

/** The tensors of a model with this configuration, in a stable order. */
export function weightSpecs(config: ModelConfig): WeightSpec[] {
  const specs: WeightSpec[] = [];
  const { hiddenSize: c, intermediateSize: m, numLayers, vocabSize } = config;
  if (config.architecture === 'gpt2') {
    specs.push({ name: 'transformer.wte.weight', shape: [vocabSize, c], kind: 'embedding' });
    specs.push({ name: 'transformer.wpe.weight', shape: [config.maxPositions, c], kind: 'embedding' });
    for (let i = 0; i < numLayers; i += 1) {
      const p = `transformer.h.${i}`;
      specs.push(
        { name: `${p}.ln_1.weight`, shape: [c], kind: 'norm' },
        { name: `${p}.ln_1.bias`, shape: [c], kind: 'bias' },
        { name: `${p}.attn.c_attn.weight`, shape: [c, 3 * c], kind: 'matrix' },
        { name: `${p}.attn.c_attn.bias`, shape: [3 * c], kind: 'bias' },
        { name: `${p}.attn.c_proj.weight`, shape: [c, c], kind: 'matrix' },
        { name: `${p}.attn.c_proj.bias`, shape: [c], kind: 'bias' },
        { name: `${p}.ln_2.weight`, shape: [c], kind: 'norm' },
        { name: `${p}.ln_2.bias`, shape: [c], kind: 'bias' },
        { name: `${p}.mlp.c_fc.weight`, shape: [c, m], kind: 'matrix' },
        { name: `${p}.mlp.c_fc.bias`, shape: [m], kind: 'bias' },
        { name: `${p}.mlp.c_proj.weight`, shape: [m, c], kind: 'matrix' },
        { name: `${p}.mlp.c_proj.bias`, shape: [c], kind: 'bias' },
      );
    }
    specs.push({ name: 'transformer.ln_f.weight', shape: [c], kind: 'norm' });
    specs.push({ name: 'transformer.ln_f.bias', shape: [c], kind: 'bias' });
    if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [vocabSize, c], kind: 'embedding' });
    return specs;
  }
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  specs.push({ name: 'model.embed_tokens.weight', shape: [vocabSize, c], kind: 'embedding' });
  for (let i = 0; i < numLayers; i += 1) {
    const p = `model.layers.${i}`;
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [c], kind: 'norm' });
    for (const [proj, out] of [['q_proj', q], ['k_proj', kv], ['v_proj', kv]] as const) {
      specs.push({ name: `${p}.self_attn.${proj}.weight`, shape: [out, c], kind: 'matrix' });
      if (config.qkvBias) specs.push({ name: `${p}.self_attn.${proj}.bias`, shape: [out], kind: 'bias' });
    }
    specs.push({ name: `${p}.self_attn.o_proj.weight`, shape: [c, q], kind: 'matrix' });
    if (config.oBias) specs.push({ name: `${p}.self_attn.o_proj.bias`, shape: [c], kind: 'bias' });
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [c], kind: 'norm' });
    for (const [proj, shape] of [['gate_proj', [m, c]], ['up_proj', [m, c]], ['down_proj', [c, m]]] as const) {
      specs.push({ name: `${p}.mlp.${proj}.weight`, shape: [...shape], kind: 'matrix' });
      if (config.mlpBias) specs.push({ name: `${p}.mlp.${proj}.bias`, shape: [shape[0]], kind: 'bias' });
    }
  }
  specs.push({ name: 'model.norm.weight', shape: [c], kind: 'norm' });
  if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [vocabSize, c], kind: 'embedding' });
  return specs;
}
