/**
 * Stable Diffusion 3 / 3.5 text-to-image over ONNX Runtime (diffusers
 * `StableDiffusion3Pipeline`; Optimum `ORTStableDiffusion3Pipeline` layout). The name follows the
 * original design of this project.
 *
 * Prompt assembly (`encode_prompt`): for both CLIP encoders, ids padded to 77 →
 * `hidden_states[−2]` [1, 77, 768|1280] and pooled `text_embeds`; clip = concat(last dim) zero-
 * padded to `joint_attention_dim`; T5 = text_encoder_3(ids padded to `max_sequence_length`)
 * .last_hidden_state, or zeros [1, max_sequence_length, joint_attention_dim] when absent (as
 * diffusers does); `encoder_hidden_states` = concat(clip, T5) along the sequence → [1, 77+L, J];
 * `pooled_projections` = concat(pooled_1, pooled_2). Guidance batches [negative, positive]
 * (negative "" when not given); the transformer gets `timestep` = σ·1000 (float), and its output
 * is a velocity for FlowMatchEulerDiscrete. Decode: latents / scaling_factor + shift_factor.
 * With `use_dynamic_shifting`, μ = calculate_shift((H/f/p)·(W/f/p)) as in the pipeline.
 * Departures: no `clip_skip`, no `prompt_2`/`prompt_3` (the same prompt feeds every encoder), no
 * skip-layer guidance.
 */
import { ClipTokenizer } from './clip-tokenizer.js';
import { SdError } from './errors.js';
import type { ModelRepository } from './model-files.js';
import type { Conditioning, PipelineOptions } from './pipeline-base.js';
import { BasePipeline, Component } from './pipeline-base.js';
import type { Scheduler } from './scheduler.js';
import { calculateShift } from './scheduler-flow-match.js';
import type { FloatTensor } from './text-encoder.js';
import { concatLastDim, encodeClip, stack } from './text-encoder.js';

/** Options of {@link SD3Generator.fromPretrained}. */
export interface SD3GeneratorOptions extends PipelineOptions {
  /** T5 sequence length (default: 256, diffusers' `max_sequence_length`). */
  maxSequenceLength?: number;
}

interface T5Tokenizer {
  encode(text: string): { ids: number[] };
}

/** Stable Diffusion 3 generator. */
export class SD3Generator extends BasePipeline {
  /** The two CLIP tokenizers. */
  readonly tokenizers: readonly ClipTokenizer[];
  /** Width of the joint text embedding (4096 for real SD3). */
  readonly jointAttentionDim: number;
  /** T5 sequence length. */
  readonly maxSequenceLength: number;
  private readonly clipEncoders: Component[];
  private readonly t5: Component | undefined;
  private readonly t5Tokenizer: { tok: T5Tokenizer; padId: number; eosId: number } | undefined;
  private readonly transformer: Component;
  private readonly patchSize: number;
  private readonly sampleSize: number;

  private constructor(
    repo: ModelRepository,
    parts: {
      tokenizers: ClipTokenizer[];
      t5Tokenizer: { tok: T5Tokenizer; padId: number; eosId: number } | undefined;
      schedulerConfig: Record<string, unknown>;
      vaeConfig: Record<string, unknown>;
      transformerConfig: Record<string, unknown>;
    },
    options: SD3GeneratorOptions,
  ) {
    super(repo, parts.schedulerConfig, parts.vaeConfig, options);
    const keep = !options.memoryEfficient;
    this.tokenizers = parts.tokenizers;
    this.clipEncoders = ['text_encoder', 'text_encoder_2'].map((f) => new Component(repo, f, options, keep));
    this.t5 = parts.t5Tokenizer ? new Component(repo, 'text_encoder_3', options, keep) : undefined;
    this.t5Tokenizer = parts.t5Tokenizer;
    this.transformer = new Component(repo, 'transformer', options, keep);
    const tc = parts.transformerConfig;
    this.jointAttentionDim = typeof tc['joint_attention_dim'] === 'number' ? tc['joint_attention_dim'] : 4096;
    this.patchSize = typeof tc['patch_size'] === 'number' ? tc['patch_size'] : 2;
    this.sampleSize = typeof tc['sample_size'] === 'number' ? tc['sample_size'] : 128;
    this.maxSequenceLength = options.maxSequenceLength ?? 256;
  }

  /**
   * Load an SD3 ONNX folder or Hub repository. The id is required: the embedded default diffusion
   * model of @vlm-grpo/models is Stable Diffusion 1.x, not SD3 (`DiffusionPipeline.fromPretrained()`
   * loads it).
   */
  static async fromPretrained(idOrPath: string, options: SD3GeneratorOptions = {}): Promise<SD3Generator> {
    const { ModelRepository } = await import('./model-files.js');
    const repo = ModelRepository.open(idOrPath, options);
    return SD3Generator.fromRepository(repo, options);
  }

  /** @internal Build from an opened repository (used by `DiffusionPipeline`). */
  static async fromRepository(repo: ModelRepository, options: SD3GeneratorOptions): Promise<SD3Generator> {
    const schedulerConfig = await repo.json('scheduler/scheduler_config.json', 'scheduler config', true);
    const vaeConfig = (await repo.json('vae_decoder/config.json', 'VAE decoder config', false)) ?? {};
    const transformerConfig = (await repo.json('transformer/config.json', 'transformer config', false)) ?? {};
    await repo.file('transformer/model.onnx', 'SD3 transformer model', true);
    await repo.file('vae_decoder/model.onnx', 'VAE decoder model', true);
    const tokenizers: ClipTokenizer[] = [];
    for (const [i, folder] of ['tokenizer', 'tokenizer_2'].entries()) {
      await repo.file(`text_encoder${i === 0 ? '' : '_2'}/model.onnx`, `CLIP text encoder ${i + 1} model`, true);
      for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) await repo.file(`${folder}/${f}`, folder, false);
      if (!(await repo.file(`${folder}/tokenizer.json`, folder, false))) {
        await repo.file(`${folder}/vocab.json`, `${folder} vocabulary`, true);
        await repo.file(`${folder}/merges.txt`, `${folder} merges`, true);
      }
      tokenizers.push(await ClipTokenizer.fromFolder(`${repo.root}/${folder}`));
    }
    let t5Tokenizer: { tok: T5Tokenizer; padId: number; eosId: number } | undefined;
    if (await repo.hasComponent('text_encoder_3')) {
      await repo.file('text_encoder_3/model.onnx', 'T5 text encoder model', true);
      const tj = await repo.json('tokenizer_3/tokenizer.json', 'T5 tokenizer (tokenizer_3/tokenizer.json)', true);
      const tc = (await repo.json('tokenizer_3/tokenizer_config.json', 'T5 tokenizer config', false)) ?? {};
      const { Tokenizer } = await import('@huggingface/tokenizers');
      const tok = new Tokenizer(tj, tc) as unknown as T5Tokenizer & { token_to_id?(t: string): number | undefined };
      const vocabId = (name: string, fallback: number): number => {
        const raw = tc[name];
        const content = typeof raw === 'string' ? raw : (raw as { content?: string } | undefined)?.content;
        return (content !== undefined ? tok.token_to_id?.(content) : undefined) ?? fallback;
      };
      t5Tokenizer = { tok, padId: vocabId('pad_token', 0), eosId: vocabId('eos_token', 1) };
    }
    const gen = new SD3Generator(repo, { tokenizers, t5Tokenizer, schedulerConfig, vaeConfig, transformerConfig }, options);
    if (!options.memoryEfficient) {
      for (const te of gen.clipEncoders) await te.get();
      await gen.t5?.get();
      await gen.transformer.get();
      await gen.vae.get();
    }
    return gen;
  }

  protected defaultScalingFactor(): number {
    return 1.5305;
  }

  protected defaults(): { steps: number; guidanceScale: number; height: number; width: number } {
    const size = this.sampleSize * this.vaeScaleFactor;
    return { steps: 28, guidanceScale: 7, height: size, width: size };
  }

  protected sizeMultiple(): number {
    return this.vaeScaleFactor * this.patchSize;
  }

  protected denoiserComponent(): Component {
    return this.transformer;
  }

  protected sampleInputName(): string {
    return 'hidden_states';
  }

  protected async usesGuidance(guidanceScale: number): Promise<boolean> {
    return guidanceScale > 1;
  }

  protected async releaseEncoders(now: boolean): Promise<void> {
    for (const te of [...this.clipEncoders, ...(this.t5 ? [this.t5] : [])]) await (now ? te.release() : te.done());
  }

  protected override timestepOptions(size: { height: number; width: number }, scheduler: Scheduler): { mu?: number } {
    const c = scheduler.config;
    if (!c.use_dynamic_shifting) return {};
    const f = this.vaeScaleFactor * this.patchSize;
    const seq = Math.floor(size.height / f) * Math.floor(size.width / f);
    return {
      mu: calculateShift(seq, c.base_image_seq_len ?? 256, c.max_image_seq_len ?? 4096, c.base_shift ?? 0.5, c.max_shift ?? 1.16),
    };
  }

  /**
   * Embeddings of one prompt as the transformer receives them: `encoder_hidden_states`
   * [1, 77 + maxSequenceLength, joint_attention_dim] and `pooled_projections` [1, pooled].
   */
  async encodePrompt(prompt: string): Promise<Map<string, FloatTensor>> {
    const out = await this.encodeOne(prompt);
    await this.releaseEncoders(false);
    return out;
  }

  protected async encodeOne(prompt: string): Promise<Map<string, FloatTensor>> {
    const te1 = await this.clipEncoders[0]!.get();
    const te2 = await this.clipEncoders[1]!.get();
    const a = await encodeClip(te1, this.tokenizers[0]!, prompt, 'penultimate', true);
    const b = await encodeClip(te2, this.tokenizers[1]!, prompt, 'penultimate', true);
    const j = this.jointAttentionDim;
    const clip = concatLastDim(a.hidden, b.hidden, j);
    if (clip.dims[2] !== j) {
      throw new SdError('SD_INVALID_MODEL', `SD3: CLIP width ${clip.dims[2]} exceeds joint_attention_dim ${j}`);
    }
    const L = this.maxSequenceLength;
    let t5: Float32Array;
    if (this.t5 && this.t5Tokenizer) {
      const model = await this.t5.get();
      const { tok, padId, eosId } = this.t5Tokenizer;
      let ids = tok.encode(prompt).ids;
      if (ids.length > L) ids = [...ids.slice(0, L - 1), eosId];
      while (ids.length < L) ids.push(padId);
      const res = await model.run({ input_ids: model.idsTensor('input_ids', [ids]) }, [model.outputs[0]!.name]);
      t5 = res.get(model.outputs[0]!.name)!.data;
      if (t5.length !== L * j) throw new SdError('SD_INVALID_MODEL', `SD3: T5 output has ${t5.length} values, expected ${L}×${j}`);
    } else {
      t5 = new Float32Array(L * j);
    }
    const seq = clip.dims[1]! + L;
    const embeds = new Float32Array(seq * j);
    embeds.set(clip.data, 0);
    embeds.set(t5, clip.data.length);
    const pooled = concatLastDim(a.pooled!, b.pooled!);
    return new Map([
      ['encoder_hidden_states', { data: embeds, dims: [1, seq, j] }],
      ['pooled_projections', pooled],
    ]);
  }

  protected async encode(
    prompts: readonly string[],
    negatives: readonly (string | undefined)[],
    guidance: boolean,
  ): Promise<Conditioning> {
    const get = this.memoizedEncodeOne();
    const stackAll = async (texts: readonly string[]): Promise<Map<string, FloatTensor>> => {
      const list: Map<string, FloatTensor>[] = [];
      for (const t of texts) list.push(await get(t));
      const out = new Map<string, FloatTensor>();
      for (const key of list[0]!.keys()) out.set(key, stack(list.map((m) => m.get(key)!)));
      return out;
    };
    const cond = await stackAll(prompts);
    if (!guidance) return { cond };
    return { cond, uncond: await stackAll(negatives.map((n) => n ?? '')) };
  }
}
