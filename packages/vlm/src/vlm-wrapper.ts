/**
 * `VLMWrapper`: a causal LM plus its tokenizer and prompt template, used as a text-to-image prompt
 * enhancer (`enhancePrompt`) and as the GRPO policy (`sample`, `sequenceLogProbs`; it satisfies
 * {@link TfjsPolicy}: wrap it in a {@link TfjsPolicyEngine} for @vlm-grpo/grpo's trainer).
 *
 * Prompt formatting: `chat` renders the tokenizer's chat template with a system message and the
 * user prompt (`add_generation_prompt=True`, tokenized without adding special tokens, as
 * transformers' `apply_chat_template`); templates that reject a system role get it merged into the
 * user message. `plain` fills a text template (default `"{prompt} Rephrase:"`, the Promptist
 * format) and tokenizes with special tokens. `auto` picks `chat` when a chat template exists.
 *
 * Completion prefix (`completionPrefix`, off unless set or stored in the model folder's
 * `generation_config.json` as `completion_prefix`): Promptist-style rewrites keep the user's prompt
 * verbatim and append modifiers, so the wrapper can write that opening itself instead of asking a
 * small model to copy it. The prefix (e.g. `" {prompt},"`, `{prompt}` = the user's prompt without
 * trailing commas/semicolons/space) is tokenized on its own (no special tokens) and appended to the
 * templated prompt ids; the model generates only the continuation. Consequences: `sample`'s
 * `promptIds` end with the prefix ids and `completionIds`/`completionLogProbs` cover only the
 * generated tokens, so GRPO's log-probs and gradients never include the copied text (it is context,
 * like a chat model's prefilled assistant turn); returned texts (`sample`'s `texts`, `EnhanceResult`
 * `text` and `raw`) are prefix + decoded continuation. SFT on (prompt, " " + reference) pairs whose
 * reference starts with the prompt yields the same tokens (byte-level BPE splits `" a fox,"` and
 * `" soft light"` at the same places alone or joined), so a model trained that way continues the
 * prefix as it learned. Departure: transformers has no such option (it is the "assistant prefill"
 * of chat APIs); with it off the wrapper behaves as before.
 *
 * Generation stops at EOS (the model's and the tokenizer's) and, by default, at the first newline
 * after some text: an enhanced prompt is one line. Texts are post-processed (`postProcessPrompt`).
 * `enhancePrompt*` replace failed completions (generation threw, empty, looping, subject dropped) by
 * a rule-based enrichment or the original prompt and report which and why; `sample` never does
 * (GRPO must see what the policy produced).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CausalLM, type CausalLMLoadOptions, type SaveOptions } from './causal-lm.js';
import { VlmError } from './errors.js';
import { assessCompletion, ruleBasedEnrichment, type FailureReason } from './fallback.js';
import { resolveModelDir } from './hub.js';
import { defaultPolicyModelPath } from './load-default-model.js';
import type { PolicySampleOptions, PolicySampleResult, TfjsPolicy } from './policy.js';
import type { TfTensor2D, TfVariable } from './tf-tensor.js';
import { CLIP_MAX_TOKENS, postProcessPrompt } from './post-process.js';
import { HfTokenizer, renderChatTemplate, renderPlainTemplate, type ChatMessage, type TextTokenizer } from './tokenizer.js';

/** Default system message for chat models. */
export const DEFAULT_SYSTEM_PROMPT =
  'You rewrite short text-to-image prompts into one rich, detailed prompt. Keep the subject. Reply with the prompt only, on one line.';

/** Default template for base (non-chat) models. */
export const DEFAULT_PLAIN_TEMPLATE = '{prompt} Rephrase:';

/** How prompts are formatted for the model. */
export type PromptFormat = 'auto' | 'chat' | 'plain';

/** What replaces a failed completion in `enhancePrompt*`. */
export type FallbackMode = 'rules' | 'original' | 'none';

/** Prompt and output settings of a {@link VLMWrapper}. */
export interface VLMWrapperSettings {
  /** `auto` (chat when the tokenizer has a chat template), `chat` or `plain` (default: `auto`). */
  promptFormat?: PromptFormat;
  /** Plain template; `{prompt}` is replaced (default: `"{prompt} Rephrase:"`). */
  plainTemplate?: string;
  /** System message for chat formatting; null for none (default: {@link DEFAULT_SYSTEM_PROMPT}). */
  systemPrompt?: string | null;
  /** Strings that end a completion (default: `["\n"]`, checked after leading whitespace). */
  stopStrings?: string[];
  /** CLIP token budget of post-processed texts (default: 77). */
  maxClipTokens?: number;
  /** Replacement of failed enhancements (default: `rules`). */
  fallback?: FallbackMode;
  /** Receives fallback and loading lines (default: none). */
  logger?: (message: string) => void;
  /**
   * Text every completion starts with, written by the wrapper, not generated: `{prompt}` is
   * replaced by the user's prompt (trailing `,` `;` and whitespace removed); null = off, the model
   * writes the whole completion. Only generated tokens are GRPO completion tokens; returned texts
   * include the prefix (see the file header). Default: `completion_prefix` of the model folder's
   * `generation_config.json` when it is a string, else null.
   */
  completionPrefix?: string | null;
}

/** Options of {@link VLMWrapper.fromPretrained}. */
export interface VLMWrapperOptions extends CausalLMLoadOptions, VLMWrapperSettings {
  /** Folder with `tokenizer.json` + `tokenizer_config.json` (default: the model folder). */
  tokenizerPath?: string;
}

/** Options of `enhancePrompt*`. */
export interface EnhanceOptions {
  /** Maximum new tokens (default: 77). */
  maxNewTokens?: number;
  /** Temperature; 0 = greedy (default: 0). */
  temperature?: number;
  /** Top-k, 0 = off (default: 0). */
  topK?: number;
  /** Top-p, 1 = off (default: 1). */
  topP?: number;
  /** Repetition penalty (default: 1.1). */
  repetitionPenalty?: number;
  /** Sampler seed (default: 0, so sampling is reproducible). */
  seed?: number;
  /** Prompt categories (same order as the prompts) for the rule-based fallback (default: inferred). */
  categories?: (string | undefined)[];
  /** Prompts per generate call (default: 16). */
  batchSize?: number;
  /** Overrides the wrapper's fallback mode. */
  fallback?: FallbackMode;
  /**
   * Ban every token that would repeat a word-piece n-gram of this size already in the sequence
   * (templated prompt, prefix and completion), as transformers' `no_repeat_ngram_size`; 0 = off
   * (default: 0).
   */
  noRepeatNgramSize?: number;
}

/** Options of {@link VLMWrapper.sample}: the policy contract's plus generation controls of this package. */
export interface SampleOptions extends PolicySampleOptions {
  /** As {@link EnhanceOptions.noRepeatNgramSize} (default: 0 = off). */
  noRepeatNgramSize?: number;
}

/** Outcome of enhancing one prompt. */
export interface EnhanceResult {
  /** The user's prompt. */
  prompt: string;
  /** The enhanced prompt returned. */
  text: string;
  /** `model` (generation accepted), `rules` (rule-based enrichment) or `original` (prompt unchanged). */
  source: 'model' | 'rules' | 'original';
  /** Why the model's output was rejected, or null. */
  failure: { reason: FailureReason; detail: string } | null;
  /**
   * The decoded completion before post-processing, after the completion prefix when one is set
   * ('' when generation threw).
   */
  raw: string;
}

/** A prompt enhancer and GRPO policy. */
export class VLMWrapper implements TfjsPolicy {
  /** The language model. */
  readonly model: CausalLM;
  /** The tokenizer. */
  readonly tokenizer: TextTokenizer;
  /** Formatting actually used: `chat` or `plain`. */
  readonly promptFormat: 'chat' | 'plain';
  /** The completion prefix template in use (`{prompt}` not yet filled), or null when off. */
  readonly completionPrefix: string | null;
  private readonly settings: Required<Omit<VLMWrapperSettings, 'logger' | 'promptFormat' | 'completionPrefix'>> & { logger?: (message: string) => void };
  private truncatedCount = 0;

  /**
   * tokenizer.json and tokenizer_config.json of a tokenizer folder other than the model's, read
   * at load (as the model keeps its own: CausalLM's `sourceFiles`), so that `save` writes them
   * even if that folder is gone by then; null when the tokenizer is the model folder's.
   */
  private readonly tokenizerFiles: ReadonlyMap<string, Uint8Array> | null;

  private constructor(model: CausalLM, tokenizer: TextTokenizer, settings: VLMWrapperSettings, tokenizerFiles: ReadonlyMap<string, Uint8Array> | null = null) {
    this.tokenizerFiles = tokenizerFiles;
    this.model = model;
    this.tokenizer = tokenizer;
    const format = settings.promptFormat ?? 'auto';
    if (format === 'chat' && !tokenizer.chatTemplate) {
      throw new VlmError('VLM_INVALID_ARGUMENT', 'promptFormat "chat" needs a tokenizer with a chat template');
    }
    this.promptFormat = format === 'auto' ? (tokenizer.chatTemplate ? 'chat' : 'plain') : format;
    const plainTemplate = settings.plainTemplate ?? DEFAULT_PLAIN_TEMPLATE;
    renderPlainTemplate(plainTemplate, '');
    const stored = model.generationConfig?.completion_prefix ?? null;
    if (settings.completionPrefix === undefined && stored !== null && typeof stored !== 'string') {
      throw new VlmError('VLM_INVALID_ARGUMENT', `generation_config.json of ${model.sourceDir ?? 'the model'}: completion_prefix must be a string or null; received ${JSON.stringify(stored)}`);
    }
    const prefix = settings.completionPrefix !== undefined ? settings.completionPrefix : (stored as string | null);
    if (prefix !== null && typeof prefix !== 'string') {
      throw new VlmError('VLM_INVALID_ARGUMENT', `completionPrefix must be a string or null; received ${JSON.stringify(prefix)}`);
    }
    this.completionPrefix = prefix;
    this.settings = {
      plainTemplate,
      systemPrompt: settings.systemPrompt === undefined ? DEFAULT_SYSTEM_PROMPT : settings.systemPrompt,
      stopStrings: settings.stopStrings ?? ['\n'],
      maxClipTokens: settings.maxClipTokens ?? CLIP_MAX_TOKENS,
      fallback: settings.fallback ?? 'rules',
      logger: settings.logger,
    };
  }

  /**
   * Load model and tokenizer from a folder or Hugging Face id (`config.json`, `model.safetensors`,
   * `tokenizer.json`, `tokenizer_config.json`). Default `idOrPath` (undefined): the embedded
   * default `policy` model, the project's prompt enhancer, from the optional peer dependency
   * @vlm-grpo/models (offline; VLM_DEFAULT_MODEL_UNAVAILABLE when that package is not installed).
   * Pass `undefined` to give options without an id.
   */
  static async fromPretrained(idOrPath?: string, options: VLMWrapperOptions = {}): Promise<VLMWrapper> {
    const source = idOrPath === undefined ? await defaultPolicyModelPath('VLMWrapper.fromPretrained()') : idOrPath;
    const dir = await resolveModelDir(source, options);
    const model = await CausalLM.fromPretrained(dir, options);
    try {
      const tokenizer = await HfTokenizer.fromDir(options.tokenizerPath ?? dir);
      if (tokenizer.eosTokenId !== null && tokenizer.eosTokenId >= model.config.vocabSize) {
        throw new VlmError('VLM_TOKENIZER_FAILED', `tokenizer EOS id ${tokenizer.eosTokenId} is outside the model's vocabulary (${model.config.vocabSize})`);
      }
      const tokenizerFiles = tokenizer.dir === model.sourceDir ? null : await readTokenizerFiles(tokenizer.dir);
      return new VLMWrapper(model, tokenizer, options, tokenizerFiles);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Wrap an existing model and tokenizer (the wrapper takes ownership of the model). */
  static fromModel(model: CausalLM, tokenizer: TextTokenizer, settings: VLMWrapperSettings = {}): VLMWrapper {
    return new VLMWrapper(model, tokenizer, settings);
  }

  /** EOS ids used to stop: the model's and the tokenizer's. */
  get eosTokenIds(): number[] {
    const ids = new Set(this.model.eosTokenIds);
    if (this.tokenizer.eosTokenId !== null) ids.add(this.tokenizer.eosTokenId);
    return [...ids];
  }

  /** The text fed to the model for a user prompt (template applied). */
  async formatPrompt(prompt: string): Promise<string> {
    if (this.promptFormat === 'plain') return renderPlainTemplate(this.settings.plainTemplate, prompt);
    const system = this.settings.systemPrompt;
    const messages: ChatMessage[] = system ? [{ role: 'system', content: system }, { role: 'user', content: prompt }] : [{ role: 'user', content: prompt }];
    try {
      return await renderChatTemplate(this.tokenizer.chatTemplate!, messages, this.tokenizer.specialTokens);
    } catch (error) {
      if (!system) throw error;
      return renderChatTemplate(this.tokenizer.chatTemplate!, [{ role: 'user', content: `${system}\n\n${prompt}` }], this.tokenizer.specialTokens);
    }
  }

  /** Token ids of the formatted prompt (never empty: BOS, else EOS, is used for an empty text). */
  async encodePrompt(prompt: string): Promise<number[]> {
    const text = await this.formatPrompt(prompt);
    const ids = this.tokenizer.encode(text, { addSpecialTokens: this.promptFormat === 'plain' });
    if (ids.length > 0) return ids;
    const fallback = this.tokenizer.bosTokenId ?? this.model.config.bosTokenId ?? this.eosTokenIds[0] ?? 0;
    return [fallback];
  }

  /**
   * The completion prefix for a user prompt: {@link completionPrefix} with `{prompt}` replaced by
   * the prompt without trailing `,` `;` or whitespace ('' when no prefix is set).
   */
  formatCompletionPrefix(prompt: string): string {
    if (this.completionPrefix === null) return '';
    const cleaned = prompt.replace(/[\s,;]+$/u, '');
    return this.completionPrefix.split('{prompt}').join(cleaned);
  }

  /**
   * Tokens the policy can attend to: GPT-2's `n_positions` (learned position embeddings: a longer
   * input cannot run); unbounded for rotary models.
   */
  get contextLength(): number {
    return this.model.config.architecture === 'gpt2' ? this.model.config.maxPositions : Number.POSITIVE_INFINITY;
  }

  /**
   * Left-truncate (in place) prompt ids longer than the context minus the room kept for the
   * completion (`min(maxNewTokens, context/2)` tokens), as transformers' `truncation_side='left'`
   * does for generation: the end of the template (the turn the model answers) is kept. Each cut is
   * counted in {@link truncatedPrompts} and logged.
   */
  private fitToContext(rows: number[][], maxNewTokens: number): void {
    const limit = this.contextLength;
    if (!Number.isFinite(limit)) return;
    const budget = limit - Math.min(Math.max(0, maxNewTokens), Math.floor(limit / 2));
    rows.forEach((ids, i) => {
      if (ids.length <= budget) return;
      this.truncatedCount += 1;
      this.settings.logger?.(
        `[vlm] prompt ${i + 1} of the batch has ${ids.length} tokens, more than the policy's context of ${limit} allows with ${limit - budget} tokens kept for the completion: its first ${ids.length - budget} tokens are dropped (${this.truncatedCount} prompt${this.truncatedCount === 1 ? '' : 's'} truncated so far)`,
      );
      rows[i] = ids.slice(ids.length - budget);
    });
  }

  /** Prompts truncated to the context so far (see {@link contextLength}). */
  get truncatedPrompts(): number {
    return this.truncatedCount;
  }

  private decodeCompletion(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /**
   * Template and encode `prompts`, then generate with the given sampling settings (temperature 0 →
   * greedy) and the wrapper's EOS, padding and stop strings.
   */
  private async generateCompletions(
    prompts: readonly string[],
    sampling: {
      maxNewTokens: number;
      temperature: number;
      topK: number;
      topP: number;
      repetitionPenalty: number;
      noRepeatNgramSize: number;
      numReturnSequences: number;
      seed: number | undefined;
    },
  ) {
    // [B] prefix texts; prompt ids [B][Lp_i] = template ids ++ prefix ids (the prefix is context).
    const prefixes = prompts.map((prompt) => this.formatCompletionPrefix(prompt));
    const encoded = await Promise.all(
      prompts.map(async (prompt, i) => [...(await this.encodePrompt(prompt)), ...(prefixes[i] ? this.tokenizer.encode(prefixes[i]!, { addSpecialTokens: false }) : [])]),
    );
    this.fitToContext(encoded, sampling.maxNewTokens);
    const out = await this.model.generate(encoded, {
      maxNewTokens: sampling.maxNewTokens,
      doSample: sampling.temperature > 0,
      temperature: sampling.temperature > 0 ? sampling.temperature : 1,
      topK: sampling.topK,
      topP: sampling.topP,
      repetitionPenalty: sampling.repetitionPenalty,
      noRepeatNgramSize: sampling.noRepeatNgramSize,
      numReturnSequences: sampling.numReturnSequences,
      seed: sampling.seed,
      eosTokenIds: this.eosTokenIds,
      padTokenId: this.tokenizer.padTokenId ?? undefined,
      stopStrings: this.settings.stopStrings,
      decode: (ids) => this.decodeCompletion(ids),
    });
    const g = sampling.numReturnSequences;
    // [B*G] prefix + decoded completion, rows prompt-major.
    const raws = out.completionIds.map((ids, r) => prefixes[Math.floor(r / g)]! + this.decodeCompletion(ids));
    return { ...out, raws };
  }

  /**
   * Sample completions for GRPO (contract {@link TfjsPolicy.sample}): rows prompt-major, log-probs
   * log-softmax(logits / T), texts post-processed, no fallback. With a completion prefix, the
   * prompt ids end with the prefix ids and the texts start with the prefix.
   */
  async sample(prompts: string[], options: SampleOptions = {}): Promise<PolicySampleResult> {
    if (prompts.length === 0) return { promptIds: [], completionIds: [], completionLogProbs: [], texts: [], truncated: [] };
    const out = await this.generateCompletions(prompts, {
      maxNewTokens: options.maxNewTokens ?? 64,
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 0,
      topP: options.topP ?? 1,
      repetitionPenalty: options.repetitionPenalty ?? 1,
      noRepeatNgramSize: options.noRepeatNgramSize ?? 0,
      numReturnSequences: options.numReturnSequences ?? 1,
      seed: options.seed,
    });
    return {
      promptIds: out.promptIds,
      completionIds: out.completionIds,
      completionLogProbs: out.completionLogProbs,
      texts: out.raws.map((raw) => postProcessPrompt(raw, { maxClipTokens: this.settings.maxClipTokens, stopStrings: this.settings.stopStrings })),
      truncated: out.finishReasons.map((reason) => reason === 'length'),
    };
  }

  /** Enhance prompts and report, per prompt, whether the model's text or a fallback was returned and why. */
  async enhancePromptsDetailed(prompts: string[], options: EnhanceOptions = {}): Promise<EnhanceResult[]> {
    const batchSize = options.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new VlmError('VLM_INVALID_ARGUMENT', `batchSize must be a positive integer, received ${batchSize}`);
    const fallback = options.fallback ?? this.settings.fallback;
    const results: EnhanceResult[] = [];
    for (let start = 0; start < prompts.length; start += batchSize) {
      const batch = prompts.slice(start, start + batchSize);
      let raws: string[] | null = null;
      let error: unknown = null;
      try {
        const out = await this.generateCompletions(batch, {
          maxNewTokens: options.maxNewTokens ?? 77,
          temperature: options.temperature ?? 0,
          topK: options.topK ?? 0,
          topP: options.topP ?? 1,
          repetitionPenalty: options.repetitionPenalty ?? 1.1,
          noRepeatNgramSize: options.noRepeatNgramSize ?? 0,
          numReturnSequences: 1,
          seed: options.seed ?? 0,
        });
        raws = out.raws;
      } catch (caught) {
        error = caught;
        if (batch.length > 1) {
          // One bad prompt must not take the others down: run each prompt of the batch alone.
          const alone = await this.enhancePromptsDetailed(batch, { ...options, batchSize: 1, categories: batch.map((_, i) => options.categories?.[start + i]) });
          results.push(...alone);
          continue;
        }
      }
      batch.forEach((prompt, i) => {
        const raw = raws?.[i] ?? '';
        const text = raws ? postProcessPrompt(raw, { maxClipTokens: this.settings.maxClipTokens, stopStrings: this.settings.stopStrings }) : '';
        const failure = raws
          ? assessCompletion(prompt, raw, text)
          : { reason: 'error' as const, detail: `generation failed: ${(error as Error)?.message ?? String(error)}` };
        if (!failure) {
          results.push({ prompt, text, source: 'model', failure: null, raw });
          return;
        }
        const category = options.categories?.[start + i];
        const replacement =
          fallback === 'rules'
            ? { text: ruleBasedEnrichment(prompt, category), source: 'rules' as const }
            : fallback === 'original'
              ? { text: prompt, source: 'original' as const }
              : { text, source: 'model' as const };
        this.settings.logger?.(`[vlm] enhance fallback (${failure.reason}) → ${replacement.source}: ${failure.detail}`);
        results.push({ prompt, ...replacement, failure, raw });
      });
    }
    return results;
  }

  /** Enhance prompts (batched); failures fall back as configured. */
  async enhancePrompts(prompts: string[], options: EnhanceOptions = {}): Promise<string[]> {
    return (await this.enhancePromptsDetailed(prompts, options)).map((result) => result.text);
  }

  /** Enhance one prompt. */
  async enhancePrompt(prompt: string, options: Omit<EnhanceOptions, 'categories' | 'batchSize'> & { category?: string } = {}): Promise<string> {
    const { category, ...rest } = options;
    return (await this.enhancePromptsDetailed([prompt], { ...rest, categories: [category] }))[0]!.text;
  }

  /** Per-token log-probs of completions given prompts; differentiable (see {@link CausalLM.sequenceLogProbs}). */
  sequenceLogProbs(
    promptIds: number[][],
    completionIds: number[][],
    options?: { withEntropy?: boolean; temperature?: number },
  ): { logProbs: TfTensor2D; entropy?: TfTensor2D } {
    return this.model.sequenceLogProbs(promptIds, completionIds, options);
  }

  /** The model's weights in a stable order. */
  trainableVariables(): TfVariable[] {
    return this.model.trainableVariables();
  }

  /** Hugging Face tensor names of {@link trainableVariables}, same order. */
  parameterNames(): string[] {
    return this.model.weightSpecs().map((spec) => spec.name);
  }

  /** A deep copy with its own variables (tokenizer and settings shared). */
  async clone(): Promise<VLMWrapper> {
    return new VLMWrapper(this.model.clone(), this.tokenizer, { ...this.settings, promptFormat: this.promptFormat, completionPrefix: this.completionPrefix }, this.tokenizerFiles);
  }

  /** Save model, config and tokenizer files so that transformers (and `fromPretrained`) load them. */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    const extraFiles: Record<string, string | Uint8Array> = { ...options.extraFiles };
    if (this.tokenizer instanceof HfTokenizer && this.tokenizer.dir !== this.model.sourceDir) {
      for (const [file, content] of this.tokenizerFiles ?? (await readTokenizerFiles(this.tokenizer.dir))) extraFiles[file] = content;
    }
    await this.model.save(dir, { ...options, extraFiles });
  }

  /** Free the model's tensors. */
  dispose(): void {
    this.model.dispose();
  }
}

/** tokenizer.json and tokenizer_config.json of a tokenizer folder (HfTokenizer needs both). */
async function readTokenizerFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) files.set(file, await readFile(join(dir, file)));
  return files;
}
