/**
 * The recorded commands and buffers of GPU generation for one shape: B prompts left-padded to Lp
 * slots, G completions per prompt (N = B·G sequences), up to T new tokens (Smax = Lp + T cache
 * slots). It composes launchers only (same model as engine.ts's forward, inference buffers: one
 * set of activations reused by every layer, no saved state for a backward).
 *
 * - `prefill` (one command encoder): embed the B·Lp prompt tokens (+ GPT-2 learned positions);
 *   per layer norm → qkv → RoPE (Llama/Qwen2, host tables by position) → keys/values into the
 *   cache of the G sequences of each prompt (kv-cache.ts) → causal attention with the padding
 *   mask over the prompt (attention.ts) → output projection (+ residual) → norm → MLP
 *   (+ residual); then the last prompt row of each sequence's prompt → final norm → vocabulary
 *   matmul [N, V] → sampler (token 0) → step counter + 1.
 * - `decode` (one command encoder per step, replayed unchanged: the step lives in the GPU state
 *   buffer): embed the N tokens the sampler chose (and their positions) → per layer norm → qkv →
 *   RoPE at the position + append to the cache (kv-cache.ts) → one-query attention over the
 *   cache (kv-attention.ts) → projection → MLP → final norm → vocabulary matmul [N, V] → sampler
 *   (next token) → step counter + 1. Its projections and vocabulary matmul (N rows) run through
 *   kernels/matvec.ts when N ≤ MATVEC_MAX_ROWS (32), which streams each weight once; the prefill
 *   and larger N use kernels/matmul.ts's tiles.
 * Shapes: activations [max(B·Lp, N), ·], caches per layer [N, Hkv, Smax, D] for keys and values,
 * history [T, N, 2]. Per call the host writes the prompt ids, mask, positions and RoPE tables,
 * the prompt lengths, the context ids, the sampler settings and state = 0
 * ({@link writeGenerationInputs}); per step it reads back N tokens and log-probs.
 */
import { PolicyWebGpuError } from './errors.js';
import { roundUp, type Command, type GpuContext, type Slice } from './gpu.js';
import { attentionForward } from './kernels/attention.js';
import { gatherRows } from './kernels/classifier.js';
import { encoderForward } from './kernels/encoder.js';
import { geluForward } from './kernels/gelu.js';
import { kvAttention } from './kernels/kv-attention.js';
import { kvCacheAppend, kvCacheFill } from './kernels/kv-cache.js';
import { layerNormForward } from './kernels/layernorm.js';
import { matmul, type MatmulArgs, type MatrixView } from './kernels/matmul.js';
import { MATVEC_MAX_ROWS, matvec } from './kernels/matvec.js';
import { rmsNormForward } from './kernels/rmsnorm.js';
import { ropeForward, ropeTables } from './kernels/rope.js';
import { advanceStep, sampleTokens, samplerFields, type SamplerSettings, type SamplerShape } from './kernels/sampler.js';
import { swigluForward } from './kernels/swiglu.js';
import type { EngineModelConfig as ModelConfig, ParamLayout } from './model-types.js';
import { paramSlice } from './param-layout.js';

/** What a generation plan reads of the engine. */
export interface GenerationModel {
  /** The device context. */
  ctx: GpuContext;
  /** Model configuration. */
  config: ModelConfig;
  /** Parameter layout. */
  layout: ParamLayout;
  /** The flat parameter buffer. */
  params: GPUBuffer;
  /** RoPE inverse frequencies (null for GPT-2). */
  invFreq: Float32Array | null;
}

/** The shape of a generation plan. */
export interface GenerationShape {
  /** Prompts B. */
  prompts: number;
  /** Completions per prompt G. */
  group: number;
  /** Prompt slots Lp (≥ the longest prompt). */
  promptSlots: number;
  /** New tokens T the plan has room for (history rows; Smax = Lp + T). */
  newTokens: number;
}

/** A recorded generation plan (see the file header). */
export interface GenerationPlan {
  /** Cache key of the shape. */
  key: string;
  /** The shape. */
  shape: GenerationShape;
  /** Sequences N = B·G. */
  sequences: number;
  /** Cache slots Smax = Lp + T. */
  slots: number;
  /** Buffers the host writes per call (context: the ids [N, Smax] the sampler reads and appends to). */
  inputs: {
    ids: GPUBuffer;
    mask: GPUBuffer;
    pos: GPUBuffer;
    ropeCos: GPUBuffer | null;
    ropeSin: GPUBuffer | null;
    promptLengths: GPUBuffer;
    context: GPUBuffer;
    state: GPUBuffer;
    sampler: GPUBuffer;
  };
  /** Sampled tokens and log-probs [T, N, 2] (u32 token, f32 bits). */
  history: GPUBuffer;
  /** Prefill + token 0 (one encoder). */
  prefill: Command[];
  /** One decode step + its token (one encoder, replayed per step). */
  decode: Command[];
}

/** The cache key of a shape. */
export function generationKey(s: GenerationShape): string {
  return `${s.prompts}x${s.group}:${s.promptSlots}+${s.newTokens}`;
}

/** The sampler's sizes for a plan shape. */
function samplerShape(model: GenerationModel, s: GenerationShape): SamplerShape {
  return { sequences: s.prompts * s.group, vocab: model.config.vocabSize, slots: s.promptSlots + s.newTokens, promptSlots: s.promptSlots, steps: s.newTokens };
}

/**
 * Build the buffers and commands of a shape (call inside `ctx.track` so the caller owns the
 * buffers). Throws `WEBGPU_UNSUPPORTED` when a buffer exceeds the adapter's binding limit.
 */
export function buildGenerationPlan(model: GenerationModel, shape: GenerationShape): GenerationPlan {
  const { ctx, config: cfg } = model;
  const gpt2 = cfg.architecture === 'gpt2';
  const { prompts: B, group: Gr, promptSlots: Lp, newTokens: T } = shape;
  const N = B * Gr;
  const Smax = Lp + T;
  const Rp = B * Lp;
  const rows = Math.max(Rp, N);
  const C = cfg.hiddenSize;
  const H = cfg.numHeads;
  const Hkv = cfg.numKvHeads;
  const D = cfg.headDim;
  const W = (H + 2 * Hkv) * D;
  const M = cfg.intermediateSize;
  const V = cfg.vocabSize;
  const L = cfg.numLayers;
  const limit = ctx.device.limits.maxStorageBufferBindingSize;
  const buffer = (label: string, count: number) => {
    if (count * 4 > limit) {
      throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', `generation ${B}×${Gr} sequences × ${Smax} slots: buffer ${label} needs ${count * 4} bytes in one binding; this adapter allows ${limit} (maxStorageBufferBindingSize)`);
    }
    return ctx.buffer(`gen.${label}`, count * 4);
  };
  const whole = (b: GPUBuffer): Slice => ({ buffer: b });
  const P = (...names: string[]) => paramSlice(model.layout, model.params, ...names);
  const has = (name: string) => model.layout.byName.has(name);

  const inputs: GenerationPlan['inputs'] = {
    ids: buffer('ids', Rp),
    mask: buffer('mask', Rp),
    pos: buffer('pos', Rp),
    ropeCos: gpt2 ? null : buffer('rope.cos', (Rp * D) / 2),
    ropeSin: gpt2 ? null : buffer('rope.sin', (Rp * D) / 2),
    promptLengths: buffer('plen', N),
    context: buffer('context', N * Smax),
    state: buffer('state', 4),
    sampler: ctx.uniform('gen.sampler.p', samplerFields(samplerShape(model, shape), { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, noRepeatNgramSize: 0, seed: 0 })),
  };
  const h = buffer('h', rows * C);
  const x = buffer('x', rows * C);
  const stats = buffer('stats', rows * 2);
  const qkv = buffer('qkv', rows * W);
  const att = buffer('att', rows * H * D);
  const pre = buffer('mlp.pre', rows * (gpt2 ? M : 2 * M));
  const act = buffer('mlp.act', rows * M);
  const lse = buffer('lse', B * H * Lp);
  const last = buffer('last', N);
  const hs = buffer('h.last', N * C);
  const logits = buffer('logits', N * V);
  const scores = buffer('scores', N * V);
  const next = buffer('next', N);
  const pos = buffer('next.pos', N);
  const history = buffer('history', T * N * 2);
  const cacheK = Array.from({ length: L }, (_, l) => buffer(`k.${l}`, N * Hkv * Smax * D));
  const cacheV = Array.from({ length: L }, (_, l) => buffer(`v.${l}`, N * Hkv * Smax * D));
  // Rope tables of the decode steps, by position (positions < Smax).
  let decodeRope: { cos: Slice; sin: Slice } | null = null;
  if (!gpt2) {
    const t = ropeTables(Array.from({ length: Smax }, (_, i) => i), model.invFreq!);
    decodeRope = { cos: whole(ctx.upload('gen.rope.decode.cos', t.cos)), sin: whole(ctx.upload('gen.rope.decode.sin', t.sin)) };
  }
  // Sequence r continues prompt ⌊r / G⌋: its logits come from that prompt's last slot.
  ctx.write(last, Uint32Array.from({ length: N }, (_, r) => Math.floor(r / Gr) * Lp + Lp - 1));

  const embed = gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
  const head = cfg.tieWordEmbeddings ? embed : 'lm_head.weight';
  const rowMajor = (b: GPUBuffer, width: number): MatrixView => ({ slice: whole(b), rowStride: width, colStride: 1 });
  const scaleOf = (l: number) => (cfg.scaleAttnByInverseLayerIdx ? 1 / Math.sqrt(D) / (l + 1) : 1 / Math.sqrt(D));
  const cacheShape = { sequences: N, heads: H, kvHeads: Hkv, headDim: D, promptSlots: Lp, slots: Smax };
  /** A matrix product's launcher: the tiled matmul, or the few-row one (decode, N ≤ its row limit). */
  type Product = (ctx: GpuContext, label: string, args: MatmulArgs) => Command;
  const decodeProduct: Product = N <= MATVEC_MAX_ROWS ? matvec : matmul;

  /** The decoder blocks on R rows of `h` with `product`; `attention(l)` turns qkv into att. */
  const blocks = (tag: string, R: number, product: Product, attention: (l: number) => Command[]): Command[] => {
    const norm = (label: string, src: GPUBuffer, w: string, b: string | null): Command =>
      gpt2
        ? layerNormForward(ctx, label, { rows: R, c: C, eps: cfg.normEps, x: whole(src), weight: P(w), bias: P(b!), y: whole(x), stats: whole(stats) })
        : rmsNormForward(ctx, label, { rows: R, c: C, eps: cfg.normEps, x: whole(src), weight: P(w), y: whole(x), rstd: whole(stats) });
    /** Y[R, out] (+)= X·W (GPT-2 Conv1D [in, out]) or X·Wᵀ (nn.Linear [out, in]). */
    const proj = (label: string, src: GPUBuffer, inDim: number, w: Slice, outDim: number, dst: GPUBuffer, bias: Slice | undefined, accumulate: boolean) =>
      product(ctx, label, {
        m: R, n: outDim, k: inDim, a: rowMajor(src, inDim),
        b: gpt2 ? { slice: w, rowStride: outDim, colStride: 1 } : { slice: w, rowStride: 1, colStride: inDim },
        c: { slice: whole(dst) }, ...(bias ? { bias: { slice: bias } } : {}), ...(accumulate ? { accumulate: true } : {}),
      });
    const out: Command[] = [];
    for (let l = 0; l < L; l += 1) {
      if (gpt2) {
        const p = `transformer.h.${l}`;
        out.push(
          norm(`${tag}.ln_1.${l}`, h, `${p}.ln_1.weight`, `${p}.ln_1.bias`),
          proj(`${tag}.c_attn.${l}`, x, C, P(`${p}.attn.c_attn.weight`), W, qkv, P(`${p}.attn.c_attn.bias`), false),
          ...attention(l),
          proj(`${tag}.attn.c_proj.${l}`, att, C, P(`${p}.attn.c_proj.weight`), C, h, P(`${p}.attn.c_proj.bias`), true),
          norm(`${tag}.ln_2.${l}`, h, `${p}.ln_2.weight`, `${p}.ln_2.bias`),
          proj(`${tag}.c_fc.${l}`, x, C, P(`${p}.mlp.c_fc.weight`), M, pre, undefined, false),
          geluForward(ctx, `${tag}.gelu.${l}`, { rows: R, n: M, x: whole(pre), bias: P(`${p}.mlp.c_fc.bias`), y: whole(act) }),
          proj(`${tag}.mlp.c_proj.${l}`, act, M, P(`${p}.mlp.c_proj.weight`), C, h, P(`${p}.mlp.c_proj.bias`), true),
        );
      } else {
        const p = `model.layers.${l}`;
        const a = `${p}.self_attn`;
        const opt = (name: string) => (has(name) ? P(name) : undefined);
        out.push(
          norm(`${tag}.input_layernorm.${l}`, h, `${p}.input_layernorm.weight`, null),
          proj(`${tag}.qkv_proj.${l}`, x, C, P(`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`), W, qkv, has(`${a}.q_proj.bias`) ? P(`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`) : undefined, false),
          ...attention(l),
          proj(`${tag}.o_proj.${l}`, att, H * D, P(`${a}.o_proj.weight`), C, h, opt(`${a}.o_proj.bias`), true),
          norm(`${tag}.post_attention_layernorm.${l}`, h, `${p}.post_attention_layernorm.weight`, null),
          proj(`${tag}.gate_up_proj.${l}`, x, C, P(`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`), 2 * M, pre, has(`${p}.mlp.gate_proj.bias`) ? P(`${p}.mlp.gate_proj.bias`, `${p}.mlp.up_proj.bias`) : undefined, false),
          swigluForward(ctx, `${tag}.swiglu.${l}`, { rows: R, m: M, gu: whole(pre), y: whole(act) }),
          proj(`${tag}.down_proj.${l}`, act, M, P(`${p}.mlp.down_proj.weight`), C, h, opt(`${p}.mlp.down_proj.bias`), true),
        );
      }
    }
    return out;
  };

  const finalNorm = (label: string, src: GPUBuffer): Command =>
    gpt2
      ? layerNormForward(ctx, label, { rows: N, c: C, eps: cfg.normEps, x: whole(src), weight: P('transformer.ln_f.weight'), bias: P('transformer.ln_f.bias'), y: whole(x), stats: whole(stats) })
      : rmsNormForward(ctx, label, { rows: N, c: C, eps: cfg.normEps, x: whole(src), weight: P('model.norm.weight'), y: whole(x), rstd: whole(stats) });
  const sample = (tag: string, product: Product): Command[] => [
    product(ctx, `${tag}.lm_head`, { m: N, n: V, k: C, a: rowMajor(x, C), b: { slice: P(head), rowStride: 1, colStride: C }, c: { slice: whole(logits) } }),
    sampleTokens(ctx, `${tag}.sampler`, {
      ...samplerShape(model, shape),
      uniform: inputs.sampler,
      logits: whole(logits),
      promptLengths: whole(inputs.promptLengths),
      state: whole(inputs.state),
      context: whole(inputs.context),
      scores: whole(scores),
      next: whole(next),
      positions: whole(pos),
      history: whole(history),
    }),
    advanceStep(ctx, `${tag}.advance`, whole(inputs.state)),
  ];

  const prefill: Command[] = [
    encoderForward(ctx, 'prefill.encoder', { tokens: Rp, c: C, ids: whole(inputs.ids), wte: P(embed), ...(gpt2 ? { positions: { ids: whole(inputs.pos), wpe: P('transformer.wpe.weight') } } : {}), out: whole(h) }),
    ...blocks('prefill', Rp, matmul, (l) => [
      ...(gpt2 ? [] : [ropeForward(ctx, `prefill.rope.${l}`, { tokens: Rp, heads: H + Hkv, headDim: D, width: W, cos: whole(inputs.ropeCos!), sin: whole(inputs.ropeSin!), x: whole(qkv) })]),
      kvCacheFill(ctx, `prefill.kv.${l}`, { ...cacheShape, group: Gr, qkv: whole(qkv), k: whole(cacheK[l]!), v: whole(cacheV[l]!) }),
      attentionForward(ctx, `prefill.attention.${l}`, { batch: B, seq: Lp, heads: H, kvHeads: Hkv, headDim: D, scale: scaleOf(l), qkv: whole(qkv), mask: whole(inputs.mask), out: whole(att), lse: whole(lse) }),
    ]),
    gatherRows(ctx, 'prefill.last_rows', { rows: N, c: C, index: whole(last), src: whole(h), dst: whole(hs) }),
    finalNorm('prefill.final_norm', hs),
    ...sample('prefill', matmul),
  ];
  const decode: Command[] = [
    encoderForward(ctx, 'decode.encoder', { tokens: N, c: C, ids: whole(next), wte: P(embed), ...(gpt2 ? { positions: { ids: whole(pos), wpe: P('transformer.wpe.weight') } } : {}), out: whole(h) }),
    ...blocks('decode', N, decodeProduct, (l) => [
      kvCacheAppend(ctx, `decode.kv.${l}`, { ...cacheShape, state: whole(inputs.state), positions: whole(pos), rope: decodeRope, qkv: whole(qkv), k: whole(cacheK[l]!), v: whole(cacheV[l]!) }),
      kvAttention(ctx, `decode.attention.${l}`, { ...cacheShape, scale: scaleOf(l), state: whole(inputs.state), promptLengths: whole(inputs.promptLengths), qkv: whole(qkv), k: whole(cacheK[l]!), v: whole(cacheV[l]!), out: whole(att) }),
    ]),
    finalNorm('decode.final_norm', h),
    ...sample('decode', decodeProduct),
  ];
  return { key: generationKey(shape), shape, sequences: N, slots: Smax, inputs, history, prefill, decode };
}

/**
 * Write one call's inputs: the B prompts left-padded to Lp (ids, mask, positions cumsum(mask) − 1
 * with 1 at padding, RoPE tables), each sequence's prompt length and context ids, the sampler
 * settings and state = 0.
 */
export function writeGenerationInputs(model: GenerationModel, plan: GenerationPlan, promptIds: readonly (readonly number[])[], padTokenId: number, settings: SamplerSettings): void {
  const { ctx } = model;
  const { prompts: B, group: G, promptSlots: Lp } = plan.shape;
  const N = plan.sequences;
  const Smax = plan.slots;
  const ids = new Uint32Array(B * Lp).fill(padTokenId);
  const mask = new Uint32Array(B * Lp);
  const pos = new Uint32Array(B * Lp).fill(1);
  promptIds.forEach((row, b) => {
    const start = b * Lp + Lp - row.length;
    row.forEach((token, j) => {
      ids[start + j] = token;
      mask[start + j] = 1;
      pos[start + j] = j;
    });
  });
  const context = new Uint32Array(N * Smax);
  const lengths = new Uint32Array(N);
  for (let r = 0; r < N; r += 1) {
    const row = promptIds[Math.floor(r / G)]!;
    lengths[r] = row.length;
    context.set(row, r * Smax + Lp - row.length);
  }
  const i = plan.inputs;
  ctx.write(i.ids, ids);
  ctx.write(i.mask, mask);
  ctx.write(i.pos, pos);
  if (i.ropeCos && i.ropeSin) {
    const t = ropeTables(pos, model.invFreq!);
    ctx.write(i.ropeCos, t.cos);
    ctx.write(i.ropeSin, t.sin);
  }
  ctx.write(i.promptLengths, lengths);
  ctx.write(i.context, context);
  ctx.write(i.state, new Uint32Array(4));
  ctx.writeUniform(i.sampler, samplerFields(samplerShape(model, plan.shape), settings));
}

/** Prompt slots for a longest prompt of `length` tokens (rounded up so similar batches share a plan). */
export function promptSlotsFor(length: number): number {
  return roundUp(length, 8);
}
