/**
 * Decoder-only causal language models (GPT-2, Llama, Qwen2) in TensorFlow.js, loaded from and saved
 * to the Hugging Face layout (`config.json` + `model.safetensors`).
 *
 * Algorithm (transformers `modeling_gpt2.py`, `modeling_llama.py`, `modeling_qwen2.py`):
 * - GPT-2: h = wte[ids] + wpe[pos]; per block h += c_proj(attn(ln_1(h))), h += mlp(ln_2(h)) with
 *   `Conv1D` weights [in, out] and `gelu_new`; ln_f; logits = h · wteᵀ (tied).
 * - Llama / Qwen2: h = embed[ids]; per block h += o_proj(attn(rms(h))) with RoPE on q and k
 *   (non-interleaved halves, θ from the config, `default`/`linear`/`llama3` scaling) and
 *   grouped-query attention (each k/v head serves numHeads/numKvHeads consecutive query heads);
 *   h += down(silu(gate(x)) · up(x)); final RMSNorm; lm_head (untied) or embedᵀ (tied).
 *   Qwen2 differs by q/k/v biases. `nn.Linear` weights are kept as [out, in] and multiplied with
 *   `transposeB`, so tensors load and save without transposes.
 * - Attention: softmax(q·kᵀ/√d + bias) · v, where bias is 0 where key j ≤ query i (causal) and the
 *   key is not padding, −1e9 elsewhere (HF uses the dtype minimum; both give zero weight).
 * - Position ids come from the attention mask: cumsum(mask) − 1, with 1 at padded positions
 *   (HF `generate`'s `prepare_inputs_for_generation`), so left-padded rows see the same positions
 *   as unpadded ones. `forward` accepts explicit `positionIds` to reproduce HF `forward`, which uses
 *   0 … T−1 regardless of the mask.
 * - Generation keeps a KV cache of [B, numKvHeads, S, headDim] tensors per layer; numReturnSequences
 *   copies each prompt's cache after one prefill.
 * Departures: dropout is not implemented (training runs with dropout off, like TRL's GRPO default
 * of `disable_dropout=True`); sliding-window attention (Qwen2 `use_sliding_window`) and other RoPE
 * scalings are rejected at load time.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSeededRandom, writeFileAtomic, writeJsonAtomic, type SeededRandom } from '@vlm-grpo/data';
import { initBackend, type BackendName, type BackendReport } from './backend.js';
import { MissingWeightsError, VlmError } from './errors.js';
import { fileExists, resolveModelDir, shardPath, type HubOptions } from './hub.js';
import { parseModelConfig, weightSpecs, type ModelConfig, type WeightSpec } from './model-config.js';
import type { SequenceLogProbsOptions } from './policy.js';
import {
  float32ToTensor,
  readSafetensorsFile,
  tensorToFloat32,
  writeSafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
} from './safetensors.js';
import { chooseToken, tokenLogProb } from './sampling.js';
import { applyRope, gatherRows, geluExact, geluNew, layerNorm, linear, rmsNorm, silu, stopGradient } from './tensor-ops.js';
import type { TfTensor2D, TfTensor3D, TfVariable } from './tf-tensor.js';

/** Files copied next to the weights by `save` when the model was loaded from a folder holding them. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'vocab.json',
  'merges.txt',
] as const;

/** Options of {@link CausalLM.fromPretrained}. */
export interface CausalLMLoadOptions extends HubOptions {
  /** tfjs backend to initialise first (default: `auto`); `null` keeps the current one. */
  backend?: BackendName | null;
  /** Receives progress and warning lines (default: none). */
  logger?: (message: string) => void;
}

/** Options of {@link CausalLM.fromConfig}. */
export interface CausalLMInitOptions {
  /** Seed of the random initialisation (default: 0). */
  seed?: number;
  /** Standard deviation of weights (default: the config's `initializer_range`, else 0.02). */
  initializerRange?: number;
}

/** Options of {@link CausalLM.generate}. */
export interface GenerateOptions {
  /** Maximum number of new tokens (default: 32). */
  maxNewTokens?: number;
  /** Sample instead of greedy decoding (default: false, as Hugging Face `generate`). */
  doSample?: boolean;
  /** Sampling temperature (default: 1); 0 means greedy. */
  temperature?: number;
  /** Top-k filtering, 0 = off (default: 0). */
  topK?: number;
  /** Nucleus filtering, 1 = off (default: 1). */
  topP?: number;
  /** Repetition penalty, 1 = off (default: 1). */
  repetitionPenalty?: number;
  /**
   * Ban tokens that would repeat an n-gram of this size already in the row (prompt included), as
   * HF `no_repeat_ngram_size`; 0 = off (default: 0).
   */
  noRepeatNgramSize?: number;
  /** Completions per prompt; rows are prompt-major (default: 1). */
  numReturnSequences?: number;
  /** Seed of the sampler; the same seed gives the same tokens (default: a random seed). */
  seed?: number;
  /** Token ids that end a sequence (default: `generation_config.json`, else `config.json` eos). */
  eosTokenIds?: number[];
  /** Strings that end a sequence once they appear in the decoded completion (needs `decode`). */
  stopStrings?: string[];
  /** Decoder used to check `stopStrings`. */
  decode?: (ids: number[]) => string;
  /** Padding id used for left padding (default: pad, else first eos, else 0). */
  padTokenId?: number;
}

/** Why a generated row stopped. */
export type FinishReason = 'eos' | 'stop' | 'length';

/** Result of {@link CausalLM.generate}; rows are prompt-major (row = prompt·G + g). */
export interface GenerateOutput {
  /** [N][Lp+Lc] prompt (unpadded) followed by the completion. */
  sequences: number[][];
  /** [N][Lp] prompt ids. */
  promptIds: number[][];
  /** [N][Lc] completion ids, EOS included when produced, nothing after. */
  completionIds: number[][];
  /** [N][Lc] log-softmax(logits / T) of each chosen token (T = 1 when greedy). */
  completionLogProbs: number[][];
  /** [N] why each row stopped. */
  finishReasons: FinishReason[];
}

/** Options of {@link CausalLM.save}. */
export interface SaveOptions {
  /** Weight dtype on disk (default: `float32`). */
  dtype?: 'float32' | 'float16' | 'bfloat16';
  /** Extra files to write next to the weights: name → content. */
  extraFiles?: Record<string, string | Uint8Array>;
}

/** Keys and values of one layer, [B, numKvHeads, S, headDim] (a type alias so tf.tidy can return it). */
type LayerCache = {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
};

/** Pad rows on the left; returns flat ids and mask [B·L] and the padded length. */
function leftPad(rows: readonly (readonly number[])[], pad: number): { ids: Int32Array; mask: Int32Array; length: number } {
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new Int32Array(rows.length * length).fill(pad);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, b) => {
    const offset = b * length + length - row.length;
    ids.set(row, offset);
    mask.fill(1, offset, offset + row.length);
  });
  return { ids, mask, length };
}

/** Position ids from a mask [B, S] (cumsum − 1, 1 where masked), for the last `t` columns. */
function positionsFromMask(mask: Int32Array, batch: number, s: number, t: number): Int32Array {
  const out = new Int32Array(batch * t);
  for (let b = 0; b < batch; b += 1) {
    let count = 0;
    for (let j = 0; j < s; j += 1) {
      const m = mask[b * s + j]!;
      count += m;
      if (j >= s - t) out[b * t + j - (s - t)] = m ? count - 1 : 1;
    }
  }
  return out;
}

/** Additive attention bias [B, 1, T, S]: 0 where key j ≤ query i (queries are the last T) and unmasked. */
function attentionBias(mask: Int32Array, batch: number, s: number, t: number): tf.Tensor4D {
  const values = new Float32Array(batch * t * s);
  for (let b = 0; b < batch; b += 1) {
    for (let i = 0; i < t; i += 1) {
      const query = s - t + i;
      const row = (b * t + i) * s;
      for (let j = 0; j < s; j += 1) values[row + j] = j <= query && mask[b * s + j] ? 0 : -1e9;
    }
  }
  return tf.tensor4d(values, [batch, 1, t, s]);
}

/** RoPE inverse frequencies, in float32 as transformers computes them. */
function ropeInverseFrequencies(config: ModelConfig): Float32Array {
  const d = config.headDim;
  const f = Math.fround;
  const inv = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i += 1) inv[i] = f(1 / f(Math.pow(config.ropeTheta, f((2 * i) / d))));
  const s = config.ropeScaling;
  if (s.type === 'linear') for (let i = 0; i < inv.length; i += 1) inv[i] = f(inv[i]! / s.factor);
  if (s.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < inv.length; i += 1) {
      const freq = inv[i]!;
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen > lowWavelen) inv[i] = f(freq / s.factor);
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = f((1 - smooth) * (freq / s.factor) + smooth * freq);
      }
    }
  }
  return inv;
}

function normalizeGenerate(options: GenerateOptions) {
  const temperature = options.temperature ?? 1;
  const greedy = !(options.doSample ?? false) || temperature === 0;
  const check = (ok: boolean, text: string) => {
    if (!ok) throw new VlmError('VLM_INVALID_ARGUMENT', `generate: ${text}`);
  };
  const maxNewTokens = options.maxNewTokens ?? 32;
  const numReturnSequences = options.numReturnSequences ?? 1;
  check(Number.isInteger(maxNewTokens) && maxNewTokens >= 0, `maxNewTokens must be a non-negative integer, received ${maxNewTokens}`);
  check(Number.isInteger(numReturnSequences) && numReturnSequences >= 1, `numReturnSequences must be a positive integer, received ${numReturnSequences}`);
  check(temperature >= 0 && Number.isFinite(temperature), `temperature must be ≥ 0, received ${temperature}`);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const repetitionPenalty = options.repetitionPenalty ?? 1;
  check(Number.isInteger(topK) && topK >= 0, `topK must be a non-negative integer, received ${topK}`);
  check(topP > 0 && topP <= 1, `topP must be in (0, 1], received ${topP}`);
  check(repetitionPenalty > 0, `repetitionPenalty must be > 0, received ${repetitionPenalty}`);
  const noRepeatNgramSize = options.noRepeatNgramSize ?? 0;
  check(Number.isInteger(noRepeatNgramSize) && noRepeatNgramSize >= 0, `noRepeatNgramSize must be a non-negative integer, received ${noRepeatNgramSize}`);
  check(!options.stopStrings?.length || typeof options.decode === 'function', 'stopStrings need a decode function');
  return { greedy, temperature: greedy ? 1 : temperature, topK, topP, repetitionPenalty, noRepeatNgramSize, maxNewTokens, numReturnSequences };
}

/**
 * A causal language model whose weights are `tf.Variable`s in the Hugging Face layout. Its public
 * methods type tensors structurally (`TfTensor2D`, {@link TfVariable}, … from `tf-tensor.ts`; cast to tfjs types to
 * run tfjs ops on them).
 */
export class CausalLM {
  /** Normalised configuration. */
  readonly config: ModelConfig;
  /** The `config.json` object this model was built from (written back by `save`). */
  readonly rawConfig: Record<string, unknown>;
  /** `generation_config.json`, when the checkpoint had one. */
  readonly generationConfig: Record<string, unknown> | null;
  /** Folder the model was loaded from, if any. */
  readonly sourceDir: string | null;
  /**
   * The {@link TOKENIZER_FILES} of `sourceDir`, read when the model was loaded and written by
   * `save`: checkpoints keep them even when the source folder is gone by then (a cleaned hub
   * cache during a long run). Empty without a source folder.
   */
  readonly sourceFiles: ReadonlyMap<string, Uint8Array>;
  /** The backend report of the load, when `fromPretrained` initialised one. */
  backendReport: BackendReport | null = null;
  private readonly weights: Map<string, tf.Variable>;
  private readonly specs: WeightSpec[];
  private readonly invFreq: Float32Array | null;
  private disposed = false;

  private constructor(
    config: ModelConfig,
    rawConfig: Record<string, unknown>,
    weights: Map<string, tf.Variable>,
    generationConfig: Record<string, unknown> | null,
    sourceDir: string | null,
    sourceFiles: ReadonlyMap<string, Uint8Array> = new Map(),
  ) {
    this.config = config;
    this.rawConfig = rawConfig;
    this.weights = weights;
    this.generationConfig = generationConfig;
    this.sourceDir = sourceDir;
    this.sourceFiles = sourceFiles;
    this.specs = weightSpecs(config);
    this.invFreq = config.architecture === 'gpt2' ? null : ropeInverseFrequencies(config);
  }

  /**
   * Load a model from a folder or a Hugging Face repository id: `config.json` plus
   * `model.safetensors` or the shards of `model.safetensors.index.json`; F32, F16 and BF16 tensors
   * become float32 variables. Throws `UnsupportedArchitectureError` for other architectures and
   * `MissingWeightsError` for missing or mis-shaped tensors.
   */
  static async fromPretrained(idOrPath: string, options: CausalLMLoadOptions = {}): Promise<CausalLM> {
    const report = options.backend === null ? null : await initBackend(options.backend ?? 'auto', { logger: options.logger });
    const dir = await resolveModelDir(idOrPath, options);
    const configPath = join(dir, 'config.json');
    if (!(await fileExists(configPath))) throw new VlmError('VLM_FILE_NOT_FOUND', `${configPath}: config.json not found`);
    let rawConfig: Record<string, unknown>;
    try {
      rawConfig = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new VlmError('VLM_INVALID_CONFIG', `${configPath}: not valid JSON (${(error as Error).message})`, { cause: error });
    }
    const config = parseModelConfig(rawConfig, configPath);
    const generationPath = join(dir, 'generation_config.json');
    const generationConfig = (await fileExists(generationPath))
      ? (JSON.parse(await readFile(generationPath, 'utf8')) as Record<string, unknown>)
      : null;
    const tensors = await readCheckpoint(dir);
    const weights = buildWeights(config, tensors, dir, options.logger);
    const sourceFiles = new Map<string, Uint8Array>();
    for (const file of TOKENIZER_FILES) {
      const path = join(dir, file);
      if (await fileExists(path)) sourceFiles.set(file, await readFile(path));
    }
    const model = new CausalLM(config, rawConfig, weights, generationConfig, dir, sourceFiles);
    model.backendReport = report;
    return model;
  }

  /** A randomly initialised model (normal(0, initializer_range) matrices, unit norms, zero biases). */
  static fromConfig(rawConfig: Record<string, unknown>, options: CausalLMInitOptions = {}): CausalLM {
    const config = parseModelConfig(rawConfig, '<config>');
    const std = options.initializerRange ?? (typeof rawConfig.initializer_range === 'number' ? rawConfig.initializer_range : 0.02);
    const seed = options.seed ?? 0;
    const weights = new Map<string, tf.Variable>();
    weightSpecs(config).forEach((spec, index) => {
      const value =
        spec.kind === 'norm'
          ? tf.ones(spec.shape)
          : spec.kind === 'bias'
            ? tf.zeros(spec.shape)
            : tf.randomNormal(spec.shape, 0, std, 'float32', seed * 7919 + index);
      weights.set(spec.name, tf.variable(value, true));
      value.dispose();
    });
    return new CausalLM(config, { ...rawConfig }, weights, null, null);
  }

  private assertLive(): void {
    if (this.disposed) throw new VlmError('VLM_DISPOSED', 'this CausalLM was disposed');
  }

  private w(name: string): tf.Variable {
    const weight = this.weights.get(name);
    if (!weight) throw new VlmError('VLM_MISSING_WEIGHTS', `weight ${name} is missing`);
    return weight;
  }

  private wOpt(name: string): tf.Variable | undefined {
    return this.weights.get(name);
  }

  /** The weights in a stable order (the architecture's tensor order), all trainable. */
  trainableVariables(): TfVariable[] {
    this.assertLive();
    return this.specs.map((spec) => this.w(spec.name));
  }

  /** Weights by Hugging Face tensor name. */
  namedWeights(): ReadonlyMap<string, TfVariable> {
    this.assertLive();
    return this.weights;
  }

  /** Tensor specs (name, shape, kind) in the order of {@link trainableVariables}. */
  weightSpecs(): readonly WeightSpec[] {
    return this.specs;
  }

  /** Number of parameters. */
  numParameters(): number {
    return this.specs.reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Default padding id: pad, else the first EOS, else 0. */
  get padTokenId(): number {
    return this.config.padTokenId ?? this.eosTokenIds[0] ?? 0;
  }

  /** EOS ids: `generation_config.json` first, else `config.json`. */
  get eosTokenIds(): number[] {
    const fromGeneration = this.generationConfig?.eos_token_id;
    if (typeof fromGeneration === 'number') return [fromGeneration];
    if (Array.isArray(fromGeneration)) return fromGeneration.filter((id): id is number => typeof id === 'number');
    return this.config.eosTokenIds;
  }

  private ropeTables(positions: Int32Array, batch: number, t: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
    const inv = this.invFreq!;
    const d = this.config.headDim;
    const half = d / 2;
    const cos = new Float32Array(batch * t * d);
    const sin = new Float32Array(batch * t * d);
    for (let p = 0; p < batch * t; p += 1) {
      const position = positions[p]!;
      for (let i = 0; i < half; i += 1) {
        const angle = Math.fround(position * inv[i]!);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        cos[p * d + i] = c;
        cos[p * d + half + i] = c;
        sin[p * d + i] = s;
        sin[p * d + half + i] = s;
      }
    }
    return { cos: tf.tensor4d(cos, [batch, 1, t, d]), sin: tf.tensor4d(sin, [batch, 1, t, d]) };
  }

  /**
   * The decoder stack. ids [B, T] int32, positions [B·T], bias [B, 1, T, S] with S = past + T.
   * Returns the final-normed hidden states [B, T, C] and the updated cache. Call inside tf.tidy.
   */
  private decode(
    ids: tf.Tensor2D,
    positions: Int32Array,
    bias: tf.Tensor4D,
    past: LayerCache[] | null,
  ): { hidden: tf.Tensor3D; cache: LayerCache[] } {
    const cfg = this.config;
    const [batch, t] = ids.shape;
    const { numHeads: h, numKvHeads: hkv, headDim: d } = cfg;
    const gpt2 = cfg.architecture === 'gpt2';
    const prefix = gpt2 ? 'transformer.h' : 'model.layers';
    const embedName = gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
    let hidden = gatherRows(this.w(embedName), ids.reshape([-1])).reshape([batch, t, cfg.hiddenSize]);
    let rope: { cos: tf.Tensor4D; sin: tf.Tensor4D } | null = null;
    if (gpt2) {
      const maxPosition = positions.reduce((a, b) => Math.max(a, b), 0);
      if (maxPosition >= cfg.maxPositions) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `position ${maxPosition} exceeds GPT-2's ${cfg.maxPositions} positions (n_positions)`);
      }
      const pos = gatherRows(this.w('transformer.wpe.weight'), tf.tensor1d(positions, 'int32'));
      hidden = hidden.add(pos.reshape([batch, t, cfg.hiddenSize]));
    } else {
      rope = this.ropeTables(positions, batch, t);
    }
    const cache: LayerCache[] = [];
    const scale = 1 / Math.sqrt(d);
    for (let layer = 0; layer < cfg.numLayers; layer += 1) {
      const p = `${prefix}.${layer}`;
      let q: tf.Tensor;
      let k: tf.Tensor;
      let v: tf.Tensor;
      let x: tf.Tensor;
      if (gpt2) {
        x = layerNorm(hidden, this.w(`${p}.ln_1.weight`), this.w(`${p}.ln_1.bias`), cfg.normEps);
        const qkv = linear(x, this.w(`${p}.attn.c_attn.weight`), this.w(`${p}.attn.c_attn.bias`), false);
        [q, k, v] = tf.split(qkv, 3, 2);
      } else {
        x = rmsNorm(hidden, this.w(`${p}.input_layernorm.weight`), cfg.normEps);
        const a = `${p}.self_attn`;
        q = linear(x, this.w(`${a}.q_proj.weight`), this.wOpt(`${a}.q_proj.bias`), true);
        k = linear(x, this.w(`${a}.k_proj.weight`), this.wOpt(`${a}.k_proj.bias`), true);
        v = linear(x, this.w(`${a}.v_proj.weight`), this.wOpt(`${a}.v_proj.bias`), true);
      }
      q = q!.reshape([batch, t, h, d]).transpose([0, 2, 1, 3]);
      k = k!.reshape([batch, t, hkv, d]).transpose([0, 2, 1, 3]);
      v = v!.reshape([batch, t, hkv, d]).transpose([0, 2, 1, 3]);
      if (rope) {
        q = applyRope(q, rope.cos, rope.sin);
        k = applyRope(k, rope.cos, rope.sin);
      }
      if (past) {
        k = tf.concat([past[layer]!.k, k], 2);
        v = tf.concat([past[layer]!.v, v], 2);
      }
      cache.push({ k: k as tf.Tensor4D, v: v as tf.Tensor4D });
      const s = k.shape[2]!;
      if (h !== hkv) {
        const rep = h / hkv;
        // Rank-4 tile (tfjs has no rank-5 tile gradient): [B, Hkv, 1, S·D] → [B, Hkv, rep, S·D].
        k = k.reshape([batch, hkv, 1, s * d]).tile([1, 1, rep, 1]).reshape([batch, h, s, d]);
        v = v.reshape([batch, hkv, 1, s * d]).tile([1, 1, rep, 1]).reshape([batch, h, s, d]);
      }
      const layerScale = cfg.scaleAttnByInverseLayerIdx ? scale / (layer + 1) : scale;
      const scores = tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true).mul(layerScale).add(bias);
      const attended = tf.matMul(tf.softmax(scores), v as tf.Tensor4D).transpose([0, 2, 1, 3]).reshape([batch, t, h * d]);
      if (gpt2) {
        hidden = hidden.add(linear(attended, this.w(`${p}.attn.c_proj.weight`), this.w(`${p}.attn.c_proj.bias`), false));
        const y = layerNorm(hidden, this.w(`${p}.ln_2.weight`), this.w(`${p}.ln_2.bias`), cfg.normEps);
        const inner = linear(y, this.w(`${p}.mlp.c_fc.weight`), this.w(`${p}.mlp.c_fc.bias`), false);
        const act = cfg.activation === 'gelu' ? geluExact(inner) : cfg.activation === 'relu' ? tf.relu(inner) : geluNew(inner);
        hidden = hidden.add(linear(act, this.w(`${p}.mlp.c_proj.weight`), this.w(`${p}.mlp.c_proj.bias`), false));
      } else {
        const a = `${p}.self_attn`;
        hidden = hidden.add(linear(attended, this.w(`${a}.o_proj.weight`), this.wOpt(`${a}.o_proj.bias`), true));
        const y = rmsNorm(hidden, this.w(`${p}.post_attention_layernorm.weight`), cfg.normEps);
        const m = `${p}.mlp`;
        const gate = linear(y, this.w(`${m}.gate_proj.weight`), this.wOpt(`${m}.gate_proj.bias`), true);
        const up = linear(y, this.w(`${m}.up_proj.weight`), this.wOpt(`${m}.up_proj.bias`), true);
        hidden = hidden.add(linear(silu(gate).mul(up), this.w(`${m}.down_proj.weight`), this.wOpt(`${m}.down_proj.bias`), true));
      }
    }
    const normed = gpt2
      ? layerNorm(hidden, this.w('transformer.ln_f.weight'), this.w('transformer.ln_f.bias'), cfg.normEps)
      : rmsNorm(hidden, this.w('model.norm.weight'), cfg.normEps);
    return { hidden: normed as tf.Tensor3D, cache };
  }

  /** Output head: hidden [..., C] → logits [..., V]. */
  private head(hidden: tf.Tensor): tf.Tensor {
    const gpt2 = this.config.architecture === 'gpt2';
    const weight = this.config.tieWordEmbeddings
      ? this.w(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight')
      : this.w('lm_head.weight');
    return linear(hidden, weight, undefined, true);
  }

  /**
   * Logits [B, T, V] for `inputIds` [B, T] (plain arrays, rows of equal length; pad on the left and
   * pass the mask for ragged batches). Position ids come from `attentionMask` (cumsum − 1) unless
   * `positionIds` [B, T] is given. Differentiable; the caller owns the returned tensor.
   */
  forward(inputIds: number[][], attentionMask?: number[][], positionIds?: number[][]): TfTensor3D {
    this.assertLive();
    const rows = inputIds;
    const batch = rows.length;
    const t = rows[0]?.length ?? 0;
    if (batch === 0 || t === 0 || rows.some((row) => row.length !== t)) {
      throw new VlmError('VLM_INVALID_ARGUMENT', 'forward: inputIds must be a non-empty [batch, time] array with rows of equal length');
    }
    const maskRows = attentionMask ?? null;
    const mask = new Int32Array(batch * t).fill(1);
    if (maskRows) {
      if (maskRows.length !== batch || maskRows.some((row) => row.length !== t)) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `forward: attentionMask must have shape [${batch}, ${t}]`);
      }
      maskRows.forEach((row, b) => row.forEach((m, j) => (mask[b * t + j] = m ? 1 : 0)));
    }
    const positions = positionIds ? Int32Array.from(positionIds.flat()) : positionsFromMask(mask, batch, t, t);
    return tf.tidy(() => {
      const ids = tf.tensor2d(Int32Array.from(rows.flat()), [batch, t], 'int32');
      const { hidden } = this.decode(ids, positions, attentionBias(mask, batch, t, t), null);
      return this.head(hidden) as tf.Tensor3D;
    });
  }

  /**
   * Per-token log-probabilities of `completionIds` after `promptIds`, differentiable with respect
   * to {@link trainableVariables}. Prompts are left-padded and completions right-padded into one
   * batch; logProbs [N, Tmax] has 0 at padded positions. `entropy` [N, Tmax] (with `withEntropy`) is
   * the entropy of softmax(logits / T) at each completion position, with no gradient.
   */
  sequenceLogProbs(
    promptIds: number[][],
    completionIds: number[][],
    options: SequenceLogProbsOptions = {},
  ): { logProbs: TfTensor2D; entropy?: TfTensor2D } {
    this.assertLive();
    const n = promptIds.length;
    const temperature = options.temperature ?? 1;
    if (completionIds.length !== n || n === 0) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `sequenceLogProbs: ${n} prompts but ${completionIds.length} completions (need the same, ≥ 1)`);
    }
    if (promptIds.some((row) => row.length === 0)) {
      throw new VlmError('VLM_INVALID_ARGUMENT', 'sequenceLogProbs: every prompt needs at least one token (e.g. BOS)');
    }
    if (!(temperature > 0)) throw new VlmError('VLM_INVALID_ARGUMENT', `sequenceLogProbs: temperature must be > 0, received ${temperature}`);
    const tc = Math.max(...completionIds.map((row) => row.length));
    if (tc === 0) {
      const empty = (): tf.Tensor2D => tf.zeros([n, 0]);
      return options.withEntropy ? { logProbs: empty(), entropy: empty() } : { logProbs: empty() };
    }
    const vocab = this.config.vocabSize;
    const pad = this.padTokenId;
    const prompt = leftPad(promptIds, pad);
    const lp = prompt.length;
    const s = lp + tc;
    const ids = new Int32Array(n * s).fill(pad);
    const mask = new Int32Array(n * s);
    const targets = new Int32Array(n * tc);
    const completionMask = new Float32Array(n * tc);
    for (let r = 0; r < n; r += 1) {
      ids.set(prompt.ids.subarray(r * lp, (r + 1) * lp), r * s);
      mask.set(prompt.mask.subarray(r * lp, (r + 1) * lp), r * s);
      const completion = completionIds[r]!;
      for (let j = 0; j < completion.length; j += 1) {
        const token = completion[j]!;
        if (!Number.isInteger(token) || token < 0 || token >= vocab) {
          throw new VlmError('VLM_INVALID_ARGUMENT', `sequenceLogProbs: completion ${r} token ${j} = ${token} is outside [0, ${vocab})`);
        }
        ids[r * s + lp + j] = token;
        mask[r * s + lp + j] = 1;
        targets[r * tc + j] = (r * tc + j) * vocab + token;
        completionMask[r * tc + j] = 1;
      }
      for (let j = completion.length; j < tc; j += 1) targets[r * tc + j] = (r * tc + j) * vocab;
    }
    const positions = positionsFromMask(mask, n, s, s);
    return tf.tidy(() => {
      const { hidden } = this.decode(tf.tensor2d(ids, [n, s], 'int32'), positions, attentionBias(mask, n, s, s), null);
      const predicting = hidden.slice([0, lp - 1, 0], [n, tc, this.config.hiddenSize]);
      let logits = this.head(predicting).reshape([n * tc, vocab]);
      if (temperature !== 1) logits = logits.div(temperature);
      const lse = tf.logSumExp(logits, -1);
      const chosen = gatherRows(logits.reshape([-1, 1]), tf.tensor1d(targets, 'int32')).reshape([n * tc]);
      const cmask = tf.tensor1d(completionMask);
      const logProbs = chosen.sub(lse).mul(cmask).reshape([n, tc]) as tf.Tensor2D;
      if (!options.withEntropy) return { logProbs };
      const frozen = stopGradient(logits);
      const logSoftmax = frozen.sub(frozen.logSumExp(-1, true));
      const entropy = logSoftmax.exp().mul(logSoftmax).sum(-1).neg().mul(cmask).reshape([n, tc]) as tf.Tensor2D;
      return { logProbs, entropy };
    });
  }

  /**
   * Generate continuations of `inputIds` (ragged rows are left-padded) with a KV cache. Greedy by
   * default; `doSample` with temperature, top-k, top-p; repetition penalty; EOS ids and stop
   * strings; `numReturnSequences` rows per prompt (prompt-major); seeded sampling. Returns ids and
   * the log-probability of every chosen token. Allocates no tensors that outlive the call.
   */
  async generate(inputIds: number[][], options: GenerateOptions = {}): Promise<GenerateOutput> {
    this.assertLive();
    const o = normalizeGenerate(options);
    if (inputIds.length === 0 || inputIds.some((row) => row.length === 0)) {
      throw new VlmError('VLM_INVALID_ARGUMENT', 'generate: need at least one prompt, each with at least one token');
    }
    const vocab = this.config.vocabSize;
    for (const row of inputIds) {
      for (const token of row) {
        if (!Number.isInteger(token) || token < 0 || token >= vocab) {
          throw new VlmError('VLM_INVALID_ARGUMENT', `generate: token ${token} is outside [0, ${vocab})`);
        }
      }
    }
    const random: SeededRandom = createSeededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31));
    const eos = new Set(options.eosTokenIds ?? this.eosTokenIds);
    const pad = options.padTokenId ?? this.padTokenId;
    const g = o.numReturnSequences;
    const b = inputIds.length;
    const n = b * g;
    const prompt = leftPad(inputIds, pad);
    const limit = this.config.architecture === 'gpt2' ? this.config.maxPositions : Number.POSITIVE_INFINITY;
    const maxNew = Math.max(0, Math.min(o.maxNewTokens, limit - Math.max(...inputIds.map((row) => row.length))));
    const promptRows = inputIds.flatMap((row) => Array.from({ length: g }, () => [...row]));
    const completions: number[][] = Array.from({ length: n }, () => []);
    const logProbs: number[][] = Array.from({ length: n }, () => []);
    const reasons: (FinishReason | null)[] = new Array<FinishReason | null>(n).fill(null);
    if (maxNew === 0) {
      return { sequences: promptRows.map((row) => [...row]), promptIds: promptRows, completionIds: completions, completionLogProbs: logProbs, finishReasons: reasons.map(() => 'length') };
    }
    // Prefill: one pass over the B prompts, then copy caches and logits to the N = B·G rows.
    let s = prompt.length;
    let mask = new Int32Array(n * s);
    for (let r = 0; r < n; r += 1) mask.set(prompt.mask.subarray(Math.floor(r / g) * s, (Math.floor(r / g) + 1) * s), r * s);
    let cache: LayerCache[];
    let logits: tf.Tensor2D;
    {
      const out = tf.tidy(() => {
        const ids = tf.tensor2d(prompt.ids, [b, s], 'int32');
        const positions = positionsFromMask(prompt.mask, b, s, s);
        const { hidden, cache: c } = this.decode(ids, positions, attentionBias(prompt.mask, b, s, s), null);
        const last = this.head(hidden.slice([0, s - 1, 0], [b, 1, this.config.hiddenSize]).reshape([b, this.config.hiddenSize]));
        if (g === 1) return { logits: last as tf.Tensor2D, cache: c };
        const rows = tf.tensor1d(Int32Array.from({ length: n }, (_, r) => Math.floor(r / g)), 'int32');
        return {
          logits: tf.gather(last, rows) as tf.Tensor2D,
          cache: c.map((layer) => ({ k: tf.gather(layer.k, rows) as tf.Tensor4D, v: tf.gather(layer.v, rows) as tf.Tensor4D })),
        };
      });
      cache = out.cache;
      logits = out.logits;
    }
    try {
      for (let step = 0; step < maxNew; step += 1) {
        const values = (await logits.data()) as Float32Array;
        logits.dispose();
        const next = new Int32Array(n).fill(pad);
        for (let r = 0; r < n; r += 1) {
          if (reasons[r]) continue;
          const row = values.subarray(r * vocab, (r + 1) * vocab);
          const context = o.repetitionPenalty === 1 && o.noRepeatNgramSize === 0 ? [] : [...promptRows[r]!, ...completions[r]!];
          const token = chooseToken(row, context, o, random);
          completions[r]!.push(token);
          logProbs[r]!.push(tokenLogProb(row, token, o.temperature));
          next[r] = token;
          if (eos.has(token)) reasons[r] = 'eos';
          else if (options.stopStrings?.length) {
            const text = options.decode!(completions[r]!).trimStart();
            if (options.stopStrings.some((stop) => stop.length > 0 && text.includes(stop))) reasons[r] = 'stop';
          }
          if (!reasons[r] && completions[r]!.length >= maxNew) reasons[r] = 'length';
        }
        if (reasons.every((reason) => reason !== null)) {
          logits = tf.zeros([0, 0]) as tf.Tensor2D;
          break;
        }
        const grown = new Int32Array(n * (s + 1));
        for (let r = 0; r < n; r += 1) {
          grown.set(mask.subarray(r * s, (r + 1) * s), r * (s + 1));
          grown[r * (s + 1) + s] = 1;
        }
        mask = grown;
        s += 1;
        const previous = cache;
        const positions = positionsFromMask(mask, n, s, 1);
        const out = tf.tidy(() => {
          const { hidden, cache: c } = this.decode(tf.tensor2d(next, [n, 1], 'int32'), positions, attentionBias(mask, n, s, 1), previous);
          return { logits: this.head(hidden.reshape([n, this.config.hiddenSize])) as tf.Tensor2D, cache: c };
        });
        for (const layer of previous) {
          layer.k.dispose();
          layer.v.dispose();
        }
        cache = out.cache;
        logits = out.logits;
      }
    } finally {
      logits.dispose();
      for (const layer of cache) {
        layer.k.dispose();
        layer.v.dispose();
      }
    }
    return {
      sequences: promptRows.map((row, r) => [...row, ...completions[r]!]),
      promptIds: promptRows,
      completionIds: completions,
      completionLogProbs: logProbs,
      finishReasons: reasons.map((reason) => reason ?? 'length'),
    };
  }

  /** An independent copy with its own variables (same config, same weights). */
  clone(): CausalLM {
    this.assertLive();
    const weights = new Map<string, tf.Variable>();
    for (const [name, variable] of this.weights) {
      const copy = variable.clone();
      weights.set(name, tf.variable(copy, variable.trainable));
      copy.dispose();
    }
    const copy = new CausalLM(this.config, structuredClone(this.rawConfig), weights, this.generationConfig, this.sourceDir, this.sourceFiles);
    copy.backendReport = this.backendReport;
    return copy;
  }

  /**
   * Write `config.json`, `model.safetensors` (HF tensor names; tied heads not duplicated),
   * `generation_config.json` when known, and the tokenizer files of the source folder, so that
   * `transformers`' `AutoModelForCausalLM.from_pretrained(dir)` loads the result unchanged. Writes
   * are atomic.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    this.assertLive();
    const dtype = options.dtype ?? 'float32';
    const code = dtype === 'float16' ? 'F16' : dtype === 'bfloat16' ? 'BF16' : 'F32';
    const tensors = new Map<string, SafetensorsInput>();
    for (const spec of this.specs) {
      const values = (await this.w(spec.name).data()) as Float32Array;
      tensors.set(spec.name, float32ToTensor(values, spec.shape, code));
    }
    await writeSafetensorsFile(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
    const config: Record<string, unknown> = { ...this.rawConfig, dtype, torch_dtype: dtype };
    await writeJsonAtomic(join(dir, 'config.json'), config);
    if (this.generationConfig) await writeJsonAtomic(join(dir, 'generation_config.json'), this.generationConfig);
    for (const [file, content] of this.sourceFiles) {
      if (!(options.extraFiles && file in options.extraFiles)) await writeFileAtomic(join(dir, file), content);
    }
    for (const [name, content] of Object.entries(options.extraFiles ?? {})) await writeFileAtomic(join(dir, name), content);
  }

  /** Free every variable. Further calls throw `VLM_DISPOSED`. */
  dispose(): void {
    if (this.disposed) return;
    for (const variable of this.weights.values()) variable.dispose();
    this.weights.clear();
    this.disposed = true;
  }
}

/** Read every tensor of a checkpoint folder: `model.safetensors` or the shards of its index. */
export async function readCheckpoint(dir: string): Promise<Map<string, SafetensorsTensor>> {
  const single = join(dir, 'model.safetensors');
  if (await fileExists(single)) return (await readSafetensorsFile(single)).tensors;
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await fileExists(indexPath))) {
    throw new VlmError('VLM_FILE_NOT_FOUND', `${dir}: neither model.safetensors nor model.safetensors.index.json found`);
  }
  let index: { weight_map?: Record<string, string> };
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8')) as typeof index;
  } catch (error) {
    throw new VlmError('VLM_SAFETENSORS_INVALID', `${indexPath}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (!index.weight_map || typeof index.weight_map !== 'object') {
    throw new VlmError('VLM_SAFETENSORS_INVALID', `${indexPath}: "weight_map" (tensor → shard file) is missing`);
  }
  const out = new Map<string, SafetensorsTensor>();
  const shards = new Map<string, string[]>();
  for (const [name, file] of Object.entries(index.weight_map)) shards.set(file, [...(shards.get(file) ?? []), name]);
  for (const [file, names] of shards) {
    const parsed = await readSafetensorsFile(await shardPath(dir, file));
    for (const name of names) {
      const tensor = parsed.tensors.get(name);
      if (!tensor) throw new VlmError('VLM_SAFETENSORS_INVALID', `${join(dir, file)}: tensor ${name} listed in the index is absent`);
      out.set(name, tensor);
    }
  }
  return out;
}

const IGNORED_TENSORS = /(\.attn\.bias|\.attn\.masked_bias|rotary_emb\.inv_freq)$/u;

function buildWeights(
  config: ModelConfig,
  tensors: Map<string, SafetensorsTensor>,
  source: string,
  logger?: (message: string) => void,
): Map<string, tf.Variable> {
  const renamed = new Map<string, SafetensorsTensor>();
  for (const [name, tensor] of tensors) {
    if (IGNORED_TENSORS.test(name)) continue;
    let key = name;
    if (config.architecture === 'gpt2' && !name.startsWith('transformer.') && name !== 'lm_head.weight') key = `transformer.${name}`;
    renamed.set(key, tensor);
  }
  const specs = weightSpecs(config);
  const missing = specs.filter((spec) => !renamed.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0) throw new MissingWeightsError(source, missing, 'tensors missing from the checkpoint');
  const misshaped = specs.filter((spec) => {
    const shape = renamed.get(spec.name)!.shape;
    return shape.length !== spec.shape.length || shape.some((dim, i) => dim !== spec.shape[i]);
  });
  if (misshaped.length > 0) {
    throw new MissingWeightsError(
      source,
      misshaped.map((spec) => `${spec.name} (expected [${spec.shape}], found [${renamed.get(spec.name)!.shape}])`),
      'tensors with the wrong shape',
    );
  }
  const known = new Set(specs.map((spec) => spec.name));
  const extra = [...renamed.keys()].filter((name) => !known.has(name) && !(name === 'lm_head.weight' && config.tieWordEmbeddings));
  if (extra.length > 0) logger?.(`[vlm] ${source}: ignored ${extra.length} unexpected tensors (${extra.slice(0, 5).join(', ')})`);
  const weights = new Map<string, tf.Variable>();
  for (const spec of specs) {
    const values = tensorToFloat32(renamed.get(spec.name)!, spec.name);
    const value = tf.tensor(values, spec.shape, 'float32');
    weights.set(spec.name, tf.variable(value, true));
    value.dispose();
  }
  return weights;
}
