import { describe, expect, it } from 'vitest';
import { assessCompletion, contentWords, dropsSubject, isLooping, resolveCategory, ruleBasedEnrichment } from './fallback.js';
import { approximateClipTokenCount } from './post-process.js';

describe('failure detection', () => {
  it('finds content words with plurals folded', () => {
    expect(contentWords('Two cats and a dog in the gardens')).toEqual(['two', 'cat', 'dog', 'garden']);
  });

  it('detects loops, empty output and a dropped subject', () => {
    expect(isLooping('the the the the')).toBe(true);
    expect(isLooping('a cat on a mat a cat on a mat a cat on a mat')).toBe(true);
    expect(isLooping('a cat sitting on a windowsill at golden hour')).toBe(false);
    expect(assessCompletion('a cat', '', '')?.reason).toBe('empty');
    expect(assessCompletion('a cat', '!!!', '!!!')?.reason).toBe('empty');
    expect(assessCompletion('a cat', 'cat cat cat cat', 'cat')?.reason).toBe('loop');
    expect(assessCompletion('a red car in the rain', 'a dog', 'a dog')?.reason).toBe('dropped-subject');
    expect(dropsSubject('a red car in the rain', 'a shiny red sports car, wet street')).toBe(false);
    expect(assessCompletion('cats', 'a fluffy cat, soft light', 'a fluffy cat, soft light')).toBeNull();
  });
});

describe('ruleBasedEnrichment', () => {
  it('keeps the prompt, adds category descriptors, is deterministic and fits CLIP', () => {
    const text = ruleBasedEnrichment('a cat on a sofa.');
    expect(text.startsWith('a cat on a sofa, ')).toBe(true);
    expect(text).toBe(ruleBasedEnrichment('a cat on a sofa.'));
    expect(text.split(', ').length).toBe(7);
    expect(text).toMatch(/fur|habitat|wildlife|telephoto|bokeh|alert|golden|eyes/u);
    expect(approximateClipTokenCount(ruleBasedEnrichment('x '.repeat(200)))).toBeLessThanOrEqual(75);
  });

  it('resolves categories from labels and keywords', () => {
    expect(resolveCategory('something', 'Animals')).toBe('animal');
    expect(resolveCategory('something', 'sci-fi')).toBe('scifi');
    expect(resolveCategory('a dragon over a castle')).toBe('fantasy');
    expect(resolveCategory('an old fisherman')).toBe('portrait');
    expect(resolveCategory('zzz')).toBe('general');
  });
});
