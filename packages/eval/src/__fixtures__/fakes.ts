/**
 * Fake enhancer / renderer / scorer for the tests: deterministic, recording every call.
 * - FakeEnhancer maps a prompt through a table (unknown prompts get `<prompt>, detailed`).
 * - FakeRenderer draws an 8×8 RGB image whose first four bytes are the seed (little endian) and
 *   whose other bytes are an FNV hash of the prompt, so a scorer or a test can recover both.
 * - FakeScorer looks up the total and components by the prompt that produced the image
 *   (`enhancedPrompts[i]`), plus an optional function of the seed read from the image.
 */
import type {
  EnhanceCallOptions,
  EnhancedPrompt,
  ImageRenderer,
  ImageScore,
  ImageScorer,
  ItemError,
  PromptEnhancer,
  RenderCallOptions,
  RenderedImage,
  ScoreCallOptions,
} from '../interfaces.js';
import { fnv1a32 } from '../validator.js';

export class FakeEnhancer implements PromptEnhancer {
  readonly calls: Array<{ prompts: string[]; options?: EnhanceCallOptions }> = [];
  constructor(
    private readonly table: Record<string, EnhancedPrompt | string | Error> = {},
    private readonly throwOnCall?: (prompts: string[]) => boolean,
  ) {}

  async enhancePrompts(prompts: string[], options?: EnhanceCallOptions): Promise<Array<EnhancedPrompt | string | Error>> {
    this.calls.push({ prompts: [...prompts], options });
    if (this.throwOnCall?.(prompts)) throw new Error('enhancer exploded');
    return prompts.map((prompt) => this.table[prompt] ?? `${prompt}, detailed`);
  }
}

export const FAKE_SIZE = 8;

export function seedOfImage(image: RenderedImage): number {
  return (image.data[0]! | (image.data[1]! << 8) | (image.data[2]! << 16) | (image.data[3]! << 24)) >>> 0;
}

export function fakeImage(prompt: string, seed: number): RenderedImage {
  const data = new Uint8Array(FAKE_SIZE * FAKE_SIZE * 3);
  const hash = fnv1a32(prompt);
  for (let index = 0; index < data.length; index++) data[index] = (hash >>> ((index % 4) * 8)) & 0xff;
  data[0] = seed & 0xff;
  data[1] = (seed >>> 8) & 0xff;
  data[2] = (seed >>> 16) & 0xff;
  data[3] = (seed >>> 24) & 0xff;
  return { width: FAKE_SIZE, height: FAKE_SIZE, data };
}

export class FakeRenderer implements ImageRenderer {
  readonly calls: Array<{ prompts: string[]; seeds: number[] }> = [];
  constructor(
    private readonly failFor: (prompt: string) => Error | ItemError | RenderedImage | undefined = () => undefined,
    private readonly throwOnCall = false,
  ) {}

  async render(prompts: string[], options: RenderCallOptions): Promise<Array<RenderedImage | ItemError | Error>> {
    this.calls.push({ prompts: [...prompts], seeds: [...options.seeds] });
    if (this.throwOnCall) throw new Error('renderer out of memory');
    return prompts.map((prompt, index) => this.failFor(prompt) ?? fakeImage(prompt, options.seeds[index]!));
  }
}

export class FakeScorer implements ImageScorer {
  readonly calls: Array<{ images: RenderedImage[]; originalPrompts: string[]; enhancedPrompts: string[] }> = [];
  constructor(
    private readonly table: Record<string, ImageScore | Error>,
    private readonly seedBonus: (seed: number) => number = () => 0,
  ) {}

  async score(images: RenderedImage[], options: ScoreCallOptions): Promise<Array<ImageScore | Error>> {
    this.calls.push({ images: [...images], originalPrompts: [...options.originalPrompts], enhancedPrompts: [...options.enhancedPrompts] });
    return images.map((image, index) => {
      const prompt = options.enhancedPrompts[index]!;
      const entry = this.table[prompt];
      if (entry === undefined) return new Error(`no score for "${prompt}"`);
      if (entry instanceof Error) return entry;
      return { total: entry.total + this.seedBonus(seedOfImage(image)), components: { ...entry.components } };
    });
  }
}
