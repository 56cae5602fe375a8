import { describe, expect, it } from 'vitest';
import { approximateClipTokenCount, collapseRepetitions, postProcessPrompt, truncateToClipTokens } from './post-process.js';

describe('postProcessPrompt', () => {
  it('keeps one trimmed line and removes quotes, labels and chat artefacts', () => {
    expect(postProcessPrompt('  "a cat on a roof, moonlight"  \nsecond line')).toBe('a cat on a roof, moonlight');
    expect(postProcessPrompt('\n\nEnhanced prompt: “a red fox in snow”<|im_end|>\n<|im_start|>user')).toBe('a red fox in snow');
    expect(postProcessPrompt('assistant\nSure! Here is the prompt: **a castle at dusk**</s> more')).toBe('a castle at dusk');
    expect(postProcessPrompt('Prompt - a lighthouse , stormy sea ,dramatic sky<|endoftext|>ignored')).toBe('a lighthouse, stormy sea, dramatic sky');
  });

  it('collapses repeated words and phrases', () => {
    expect(collapseRepetitions('a very very very old tree, old tree, Old Tree, moss')).toBe('a very old tree, moss');
    expect(postProcessPrompt('a cat a cat a cat on a mat, on a mat, highly detailed highly detailed')).toBe(
      'a cat on a mat, highly detailed',
    );
  });

  it('cuts to the CLIP window at a phrase boundary', () => {
    const phrases = Array.from({ length: 40 }, (_, i) => `phrase number ${i}`);
    const long = phrases.join(', ');
    const cut = postProcessPrompt(long);
    expect(approximateClipTokenCount(cut)).toBeLessThanOrEqual(75);
    expect(long.startsWith(cut)).toBe(true);
    expect(cut).toMatch(/phrase number \d+$/u);
    expect(approximateClipTokenCount(truncateToClipTokens(`${'word '.repeat(100)}`))).toBe(75);
  });

  it('approximates CLIP token counts', () => {
    expect(approximateClipTokenCount('a cat')).toBe(2);
    expect(approximateClipTokenCount('8k, ultra-detailed')).toBe(1 + 1 + 1 + 1 + 1 + 1);
    expect(approximateClipTokenCount('photorealistic')).toBe(2);
    expect(approximateClipTokenCount("it's")).toBe(2);
  });
});
