/**
 * Tokenizers and prompt templates. The tokenizer is Hugging Face `tokenizer.json` run by
 * `@huggingface/tokenizers` (imported lazily, on first load): the engine transformers.js' own
 * `PreTrainedTokenizer` wraps, used the same way (`new Tokenizer(tokenizer.json,
 * tokenizer_config.json)`, special-token ids from the config's `bos_token`/`eos_token`/`pad_token`,
 * `pad_token` falling back to `eos_token`), without transformers.js' ONNX Runtime and sharp
 * dependencies (≈ 470 MB of install). Chat templates (`chat_template` in `tokenizer_config.json`
 * or `chat_template.jinja`) are rendered with `@huggingface/jinja`, as
 * `apply_chat_template(messages, add_generation_prompt=True)` does in transformers.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VlmError } from './errors.js';
import { gpt2TokenizerJson } from './gpt2-tokenizer-json.js';
import { fileExists } from './hub.js';

/** One chat message. */
export interface ChatMessage {
  /** `system`, `user` or `assistant`. */
  role: 'system' | 'user' | 'assistant';
  /** Text of the message. */
  content: string;
}

/** The tokenizer interface the wrapper needs (any implementation can be passed to `VLMWrapper.fromModel`). */
export interface TextTokenizer {
  /** Ids of `text`; `addSpecialTokens` adds BOS/EOS as the tokenizer's post-processor does (default: false). */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; `skipSpecialTokens` drops special tokens (default: true). */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** EOS id, if any. */
  readonly eosTokenId: number | null;
  /** BOS id, if any. */
  readonly bosTokenId: number | null;
  /** Padding id, if any. */
  readonly padTokenId: number | null;
  /** Special-token strings by role (`bos_token`, `eos_token`, …) for templates. */
  readonly specialTokens: Record<string, string>;
  /** The chat template, when the tokenizer has one. */
  readonly chatTemplate: string | null;
}

interface HfTokenizerLike {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
}

function tokenString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

/** Tokenizer loaded from a folder's `tokenizer.json` + `tokenizer_config.json`. */
export class HfTokenizer implements TextTokenizer {
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly specialTokens: Record<string, string>;
  readonly chatTemplate: string | null;
  /** Folder the tokenizer files came from. */
  readonly dir: string;
  private readonly inner: HfTokenizerLike;

  private constructor(dir: string, inner: HfTokenizerLike, config: Record<string, unknown>, chatTemplate: string | null) {
    this.dir = dir;
    this.inner = inner;
    // As transformers.js' PreTrainedTokenizer: the config's token strings, looked up in the vocabulary.
    const id = (...keys: string[]): number | null => {
      for (const key of keys) {
        const token = tokenString(config[key]);
        if (token) return inner.token_to_id(token) ?? null;
      }
      return null;
    };
    this.eosTokenId = id('eos_token');
    this.bosTokenId = id('bos_token');
    this.padTokenId = id('pad_token', 'eos_token');
    this.chatTemplate = chatTemplate;
    const specialTokens: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const value = tokenString(config[key]);
      if (value !== null) specialTokens[key] = value;
    }
    this.specialTokens = specialTokens;
  }

  /**
   * Load `tokenizer.json` and `tokenizer_config.json` from `dir` with @huggingface/tokenizers
   * (never from the network). Throws `VLM_TOKENIZER_FAILED` naming the folder when they are missing
   * or unreadable.
   */
  static async fromDir(folder: string): Promise<HfTokenizer> {
    // Absolute, so messages name the folder unambiguously (relative paths are from the working directory).
    const dir = resolve(folder);
    if (!(await fileExists(join(dir, 'tokenizer_config.json')))) {
      throw new VlmError('VLM_TOKENIZER_FAILED', `${join(dir, 'tokenizer_config.json')}: not found (a tokenizer needs tokenizer_config.json and tokenizer.json, or GPT-2's vocab.json + merges.txt)`);
    }
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new VlmError('VLM_TOKENIZER_FAILED', `${join(dir, 'tokenizer_config.json')}: not valid JSON`, { cause: error });
    }
    let chatTemplate: string | null = null;
    const rawTemplate = config.chat_template;
    if (typeof rawTemplate === 'string') chatTemplate = rawTemplate;
    else if (Array.isArray(rawTemplate)) {
      const entry = (rawTemplate as { name?: string; template?: string }[]).find((item) => item.name === 'default') ?? rawTemplate[0];
      chatTemplate = typeof entry?.template === 'string' ? entry.template : null;
    }
    if (chatTemplate === null && (await fileExists(join(dir, 'chat_template.jinja')))) {
      chatTemplate = await readFile(join(dir, 'chat_template.jinja'), 'utf8');
    }
    try {
      const { Tokenizer } = await import('@huggingface/tokenizers');
      // Without tokenizer.json, GPT-2's slow-tokenizer files (DialoGPT) convert as transformers does.
      const json = (await fileExists(join(dir, 'tokenizer.json')))
        ? (JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as object)
        : await gpt2TokenizerJson(dir, config);
      if (json === undefined) {
        throw new VlmError('VLM_TOKENIZER_FAILED', `${join(dir, 'tokenizer.json')}: not found (a tokenizer needs tokenizer.json, or GPT-2's vocab.json + merges.txt)`);
      }
      const inner = new Tokenizer(json, config) as unknown as HfTokenizerLike;
      return new HfTokenizer(dir, inner, config, chatTemplate);
    } catch (error) {
      if (VlmError.isInstance(error)) throw error;
      throw new VlmError('VLM_TOKENIZER_FAILED', `${dir}: tokenizer could not be loaded (${(error as Error).message})`, { cause: error });
    }
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return Array.from(this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids);
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }
}

/**
 * Render a chat template with @huggingface/jinja, with the variables transformers passes:
 * `messages`, `add_generation_prompt` and the special-token strings (`raise_exception` is built into
 * @huggingface/jinja).
 * Throws `VLM_TEMPLATE_FAILED` with the template's error.
 */
export async function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  specialTokens: Record<string, string> = {},
  addGenerationPrompt = true,
): Promise<string> {
  const { Template } = await import('@huggingface/jinja');
  try {
    return new Template(template).render({
      messages: messages.map((message) => ({ ...message })),
      add_generation_prompt: addGenerationPrompt,
      ...specialTokens,
    });
  } catch (error) {
    throw new VlmError('VLM_TEMPLATE_FAILED', `chat template failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Fill a plain template: every `{prompt}` becomes the prompt. */
export function renderPlainTemplate(template: string, prompt: string): string {
  if (!template.includes('{prompt}')) {
    throw new VlmError('VLM_INVALID_ARGUMENT', `plain template must contain {prompt}; received ${JSON.stringify(template)}`);
  }
  return template.split('{prompt}').join(prompt);
}
