import { describe, expect, it } from 'vitest';

import {
  aestheticScore, captionScene, COLOR_RGB, DEFAULT_LOOK, EFFECT_PHRASES, effectsOf, lookOf, MODIFIER_RULES, NO_EFFECT_PHRASES, parseCaption,
  renderScene, ruleOf, sampleScene, subjectOf, validateScene, WorldError,
  type EffectId, type Look, type RenderedImage, type Scene,
} from './index.js';

// ---- measurements on rendered pictures -------------------------------------------------------
const px = (img: RenderedImage, p: number): [number, number, number] => [img.data[p * 3]! / 255, img.data[p * 3 + 1]! / 255, img.data[p * 3 + 2]! / 255];
const Y = ([r, g, b]: [number, number, number]): number => 0.299 * r + 0.587 * g + 0.114 * b;
const n = (img: RenderedImage): number => img.width * img.height;
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
function lumas(img: RenderedImage): number[] {
  return Array.from({ length: n(img) }, (_, p) => Y(px(img, p)));
}
const meanLuma = (img: RenderedImage): number => mean(lumas(img));
const lumaStd = (img: RenderedImage): number => {
  const l = lumas(img);
  const m = mean(l);
  return Math.sqrt(mean(l.map((x) => (x - m) ** 2)));
};
const saturation = (img: RenderedImage): number =>
  mean(Array.from({ length: n(img) }, (_, p) => { const c = px(img, p); return Math.max(...c) - Math.min(...c); }));
const warmth = (img: RenderedImage): number => mean(Array.from({ length: n(img) }, (_, p) => { const c = px(img, p); return c[0] - c[2]; }));
/** Mean |Laplacian| of luminance: edge and noise energy. */
function laplacian(img: RenderedImage, mask?: (p: number) => boolean): number {
  const w = img.width;
  const l = lumas(img);
  const out: number[] = [];
  for (let y = 1; y < img.height - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const p = y * w + x;
      if (mask && !mask(p)) continue;
      out.push(Math.abs(4 * l[p]! - l[p - 1]! - l[p + 1]! - l[p - w]! - l[p + w]!));
    }
  }
  return mean(out);
}
const coverageArea = (img: RenderedImage): number => mean([...img.coverage]);
function centroid(img: RenderedImage): [number, number] {
  let sx = 0;
  let sy = 0;
  let s = 0;
  img.coverage.forEach((c, p) => {
    sx += c * ((p % img.width) + 0.5);
    sy += c * (Math.floor(p / img.width) + 0.5);
    s += c;
  });
  return [sx / s / img.width, sy / s / img.height];
}
function components(img: RenderedImage): number {
  const w = img.width;
  const seen = new Uint8Array(n(img));
  let count = 0;
  for (let p = 0; p < n(img); p++) {
    if (seen[p] || img.coverage[p]! < 0.5) continue;
    count++;
    const stack = [p];
    seen[p] = 1;
    while (stack.length) {
      const q = stack.pop()!;
      const x = q % w;
      for (const r of [q - w, q + w, x > 0 ? q - 1 : -1, x < w - 1 ? q + 1 : -1]) {
        if (r >= 0 && r < n(img) && !seen[r] && img.coverage[r]! >= 0.5) {
          seen[r] = 1;
          stack.push(r);
        }
      }
    }
  }
  return count;
}

/** Plain test scenes: one medium object on a plain background, no modifiers. */
function baseScenes(count = 8): Scene[] {
  const shapes = ['circle', 'square', 'star', 'heart', 'house', 'flower', 'triangle', 'diamond'] as const;
  const colors = ['red', 'blue', 'green', 'orange', 'purple', 'yellow', 'pink', 'brown'] as const;
  const backgrounds = ['default', 'gray', 'beige', 'field', 'default', 'sky', 'green', 'white'] as const;
  return Array.from({ length: count }, (_, i) => ({
    groups: [{ shape: shapes[i % 8]!, color: colors[i % 8]!, size: 'medium', count: 1 + (i % 2) }],
    position: 'anywhere',
    background: backgrounds[i % 8]!,
    modifiers: [],
    seed: 100 + i,
  }));
}

describe('determinism', () => {
  it('gives the same scene, caption and pixels for the same seed, and different ones for other seeds', () => {
    for (const seed of [1, 42, 123456]) {
      const a = sampleScene(seed);
      const b = sampleScene(seed);
      expect(b).toEqual(a);
      expect(captionScene(b)).toBe(captionScene(a));
      expect(Buffer.from(renderScene(b).data).equals(Buffer.from(renderScene(a).data))).toBe(true);
    }
    const captions = new Set(Array.from({ length: 200 }, (_, i) => captionScene(sampleScene(i))));
    expect(captions.size).toBeGreaterThan(190);
    expect(Buffer.from(renderScene(sampleScene(1)).data).equals(Buffer.from(renderScene(sampleScene(2)).data))).toBe(false);
  });

  it('renders at other sizes with the same layout', () => {
    const scene = sampleScene(7);
    const small = renderScene(scene);
    const big = renderScene(scene, { size: 128 });
    expect(big.data).toHaveLength(128 * 128 * 3);
    expect(Math.abs(coverageArea(big) - coverageArea(small))).toBeLessThan(0.01);
  });
});

describe('captions', () => {
  it('parse back to the scene they were written from (every wording variant)', () => {
    for (let seed = 0; seed < 1500; seed++) {
      const scene = sampleScene(seed);
      for (const options of [{}, { canonical: true }, { wordingSeed: seed + 1 }]) {
        const caption = captionScene(scene, options);
        const parsed = parseCaption(caption);
        expect(parsed, caption).toEqual({ groups: scene.groups, position: scene.position, background: scene.background, modifiers: scene.modifiers });
      }
    }
  });

  it('take phrases from an extra pool with the effect their rule gives, never two contradicting effects', () => {
    const pool = ['dramatic clouds overhead', 'soft haze behind', 'travel photograph', 'fine mechanical details', 'warm evening glow', 'cold color palette'];
    const used = new Set<string>();
    for (let seed = 0; seed < 400; seed++) {
      const scene = sampleScene(seed, { phrasePool: pool });
      scene.modifiers.forEach((m) => used.add(m));
      expect(parseCaption(captionScene(scene)).modifiers).toEqual(scene.modifiers);
      const effects = effectsOf(scene.modifiers);
      expect(effects.includes('warm-light') && effects.includes('cool-light'), captionScene(scene)).toBe(false);
      expect(new Set(scene.modifiers.map((m) => ruleOf(m)?.id).filter(Boolean)).size).toBe(scene.modifiers.filter((m) => ruleOf(m)).length);
    }
    for (const phrase of pool) expect(used.has(phrase), phrase).toBe(true);
    // Without a pool the draws are the built-in ones (the default dataset is unchanged by the option).
    expect(sampleScene(5)).toEqual(sampleScene(5, {}));
  });

  it('read like typed prompts: lower case, comma-separated modifiers, articles and plurals right', () => {
    const scene: Scene = {
      groups: [{ shape: 'circle', color: 'orange', size: 'medium', count: 1 }, { shape: 'cross', color: 'blue', size: 'small', count: 2 }],
      position: 'left',
      background: 'black',
      modifiers: ['golden hour light', '8k'],
      seed: 0,
    };
    expect(captionScene(scene, { canonical: true })).toBe('an orange circle and two small blue crosses on the left on a black background, golden hour light, 8k');
    expect(captionScene(scene, { canonical: true, subjectOnly: true })).toBe('an orange circle and two small blue crosses on the left on a black background');
    expect(subjectOf('three big red stars at night, soft focus, 8k')).toBe('three big red stars at night');
    expect(subjectOf('a cat on a sofa')).toBeUndefined();
  });

  it('reject text outside the grammar with the character where it stops', () => {
    expect(() => parseCaption('two red circle')).toThrow(/character 0: expected a plural shape/);
    expect(() => parseCaption('a red circle on a sofa')).toThrow(/character 12/);
    try {
      parseCaption('a dog');
    } catch (error) {
      expect(WorldError.isInstance(error) && error.code).toBe('WORLD_UNPARSABLE_CAPTION');
    }
  });

  it('match the picture: colour, count and position are visible in the pixels', () => {
    let countOk = 0;
    let total = 0;
    for (let seed = 0; seed < 150; seed++) {
      const scene = { ...sampleScene(seed), modifiers: [] };
      if (scene.groups.length !== 1) continue;
      const img = renderScene(scene);
      total++;
      if (components(img) === scene.groups[0]!.count) countOk++;
      // Mean colour of fully covered pixels of the main colour ≈ the named colour (grain aside).
      const inside = [...img.coverage.keys()].filter((p) => img.coverage[p] === 1);
      const c = [0, 1, 2].map((ch) => mean(inside.map((p) => px(img, p)[ch]!)));
      const named = COLOR_RGB[scene.groups[0]!.color];
      if (!['tree', 'flower', 'house'].includes(scene.groups[0]!.shape)) {
        for (let ch = 0; ch < 3; ch++) expect(Math.abs(c[ch]! - named[ch]!), `${captionScene(scene)} channel ${ch}`).toBeLessThan(0.03);
      }
      const [cx, cy] = centroid(img);
      if (scene.position.includes('left')) expect(cx).toBeLessThan(0.42);
      if (scene.position.includes('right')) expect(cx).toBeGreaterThan(0.58);
      if (scene.position.includes('top')) expect(cy).toBeLessThan(0.42);
      if (scene.position.includes('bottom')) expect(cy).toBeGreaterThan(0.58);
      if (scene.position === 'center') expect(Math.hypot(cx - 0.5, cy - 0.5)).toBeLessThan(0.08);
    }
    expect(countOk / total).toBeGreaterThan(0.97);
  });

  it('keep sizes ordered: small < medium < big in object area', () => {
    const area = (size: 'small' | 'medium' | 'big'): number =>
      coverageArea(renderScene({ groups: [{ shape: 'square', color: 'red', size, count: 1 }], position: 'anywhere', background: 'default', modifiers: [], seed: 3 }));
    expect(area('small')).toBeLessThan(area('medium') * 0.6);
    expect(area('medium')).toBeLessThan(area('big') * 0.6);
  });
});

describe('modifiers', () => {
  it('map every listed effect phrase to its own rule and every no-effect phrase to none', () => {
    for (const [id, phrases] of Object.entries(EFFECT_PHRASES)) {
      for (const phrase of phrases) expect(ruleOf(phrase)?.id, phrase).toBe(id);
    }
    for (const phrase of NO_EFFECT_PHRASES) expect(ruleOf(phrase)?.id, phrase).toBeUndefined();
    expect(new Set(MODIFIER_RULES.map((r) => r.id)).size).toBe(MODIFIER_RULES.length);
    expect(Object.keys(EFFECT_PHRASES).sort()).toEqual(MODIFIER_RULES.map((r) => r.id).sort());
  });

  it('do not stack: repeating an effect or adding a synonym changes nothing', () => {
    expect(lookOf(['high contrast', 'high contrast', 'high dynamic range'])).toEqual(lookOf(['high contrast']));
    expect(effectsOf(['8k', 'golden hour', 'golden hour light'])).toEqual(['warm-light']);
    expect(lookOf(['8k', 'masterpiece', 'canon eos r5'])).toEqual(DEFAULT_LOOK);
  });

  /** Mean of `metric` over the base scenes rendered without and with one effect phrase. */
  function delta(phrase: string, metric: (img: RenderedImage) => number, scenes = baseScenes()): { before: number; after: number } {
    const before = mean(scenes.map((s) => metric(renderScene(s))));
    const after = mean(scenes.map((s) => metric(renderScene({ ...s, modifiers: [phrase] }))));
    return { before, after };
  }
  const objectPixels = (img: RenderedImage) => (p: number): boolean => img.coverage[p]! === 1;
  const backgroundPixels = (img: RenderedImage) => (p: number): boolean => img.coverage[p]! === 0;

  const cases: [EffectId, string, (img: RenderedImage) => number, 'up' | 'down', number][] = [
    ['warm-light', 'golden hour light', warmth, 'up', 0.08],
    ['cool-light', 'cold blue light', warmth, 'down', 0.08],
    ['low-key', 'moody low-key lighting', meanLuma, 'down', 0.15],
    ['high-key', 'bright even lighting', meanLuma, 'up', 0.05],
    ['soft-light', 'soft diffused light', lumaStd, 'down', 0.012],
    ['high-contrast', 'high contrast', lumaStd, 'up', 0.015],
    ['vivid', 'vivid colors', saturation, 'up', 0.05],
    ['muted', 'muted colors', saturation, 'down', 0.08],
    ['monochrome', 'black and white', saturation, 'down', 0.15],
    ['pastel', 'watercolor illustration', saturation, 'down', 0.08],
    ['soft-focus', 'soft focus', (img) => laplacian(img), 'down', 0.005],
    ['sharp', 'sharp focus', (img) => laplacian(img, objectPixels(img)) + 0 * laplacian(img), 'down', 0.004],
    ['minimalist', 'minimalist', (img) => laplacian(img, backgroundPixels(img)), 'down', 0.01],
    ['film-grain', 'film grain', (img) => laplacian(img, backgroundPixels(img)), 'up', 0.05],
    ['detailed', 'highly detailed', (img) => laplacian(img, objectPixels(img)), 'up', 0.02],
    ['close-up', 'close-up', coverageArea, 'up', 0.03],
    ['wide', 'wide shot', coverageArea, 'down', 0.02],
    ['vignette', 'vignette', (img) => Y(px(img, 0)) - Y(px(img, img.width * (img.height / 2) + img.width / 2)), 'down', 0.05],
    ['neon', 'neon glow', meanLuma, 'down', 0.1],
    ['render-3d', 'octane render', (img) => laplacian(img, objectPixels(img)), 'up', 0.002],
    ['rays', 'dappled sunlight', meanLuma, 'up', 0.02],
    ['hard-light', 'rim light', lumaStd, 'up', 0.005],
    ['line-art', 'pencil sketch', (img) => meanLuma(img), 'up', 0.03],
    ['sepia', 'sepia tones', (img) => mean(Array.from({ length: n(img) }, (_, p) => { const c = px(img, p); return c[0] >= c[1] && c[1] >= c[2] ? 1 : 0; })), 'up', 0.3],
  ];
  for (const [id, phrase, metric, direction, min] of cases) {
    it(`${id} ("${phrase}") moves its measure ${direction}`, () => {
      expect(ruleOf(phrase)?.id).toBe(id);
      // `sharp` is measured as "less blur than soft focus" below; here the sign convention is
      // inverted for it (sharpening lowers nothing): see its own test.
      if (id === 'sharp') return;
      const { before, after } = delta(phrase, metric);
      if (direction === 'up') expect(after - before, `${before} → ${after}`).toBeGreaterThan(min);
      else expect(before - after, `${before} → ${after}`).toBeGreaterThan(min);
    });
  }

  it('sharp ("sharp focus") raises edge energy inside objects and removes grain', () => {
    const scenes = baseScenes();
    const edges = (mods: string[]) => mean(scenes.map((s) => { const img = renderScene({ ...s, modifiers: mods }); return laplacian(img, (p) => img.coverage[p]! > 0 && img.coverage[p]! < 1); }));
    expect(edges(['sharp focus'])).toBeGreaterThan(edges([]) * 1.2);
    expect(lookOf(['sharp focus']).grain).toBeLessThan(DEFAULT_LOOK.grain);
  });

  it('centered / rule of thirds move the objects', () => {
    for (const s of baseScenes(4)) {
      const [cx, cy] = centroid(renderScene({ ...s, modifiers: ['centered composition'] }));
      expect(Math.hypot(cx - 0.5, cy - 0.5)).toBeLessThan(0.05);
      const [tx, ty] = centroid(renderScene({ ...s, modifiers: ['rule of thirds'] }));
      expect(tx).toBeLessThan(0.45);
      expect(ty).toBeLessThan(0.45);
    }
  });

  it('blurred background softens only the background; glow spills colour outside objects', () => {
    const scenes = baseScenes();
    const fine = (mods: string[]) => mean(scenes.map((s) => { const img = renderScene({ ...s, modifiers: mods }); return laplacian(img, (p) => img.coverage[p]! === 0); }));
    const objEdge = (mods: string[]) => mean(scenes.map((s) => { const img = renderScene({ ...s, modifiers: mods }); return laplacian(img, (p) => img.coverage[p]! > 0 && img.coverage[p]! < 1); }));
    expect(fine(['minimalist', 'softly blurred background'])).toBeLessThan(0.01);
    expect(objEdge(['softly blurred background'])).toBeGreaterThan(objEdge(['soft focus']) * 2);
    const s = baseScenes(1)[0]!;
    const plain = renderScene(s);
    const glow = renderScene({ ...s, modifiers: ['ethereal glow'] });
    const ring = [...plain.coverage.keys()].filter((p) => plain.coverage[p] === 0 && glow.coverage[p] === 0);
    const diff = mean(ring.map((p) => Math.abs(Y(px(glow, p)) - Y(px(plain, p))) + Math.abs(px(glow, p)[0] - px(plain, p)[0])));
    expect(diff).toBeGreaterThan(0.01);
  });

  it('pixel art makes 4 × 4 blocks', () => {
    const img = renderScene({ ...baseScenes(1)[0]!, modifiers: ['pixel art', 'minimalist'] });
    for (let y = 0; y < 64; y += 4) {
      for (let x = 0; x < 64; x += 4) {
        const a = px(img, y * 64 + x);
        const b = px(img, (y + 3) * 64 + x + 3);
        expect(a).toEqual(b);
      }
    }
  });

  it('phrases without an effect leave the pixels unchanged', () => {
    for (const s of baseScenes(3)) {
      const a = renderScene(s);
      const b = renderScene({ ...s, modifiers: ['8k', 'masterpiece', 'canon eos r5', 'trending on artstation'] });
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    }
  });
});

describe('aesthetic rule', () => {
  const scenes = baseScenes(8);
  const avg = (mods: string[]): number => mean(scenes.map((s) => aestheticScore(renderScene({ ...s, modifiers: mods }))));
  it('stays in [0, 10]', () => {
    for (let seed = 0; seed < 200; seed++) {
      const score = aestheticScore(renderScene(sampleScene(seed)));
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(10);
    }
  });
  it('rewards warm light, vivid colour, detail and composition; punishes soft focus, grain, gray and tiny objects', () => {
    const base = avg([]);
    for (const good of ['golden hour light', 'vivid colors', 'highly detailed', 'rule of thirds', 'sharp focus']) expect(avg([good]), good).toBeGreaterThan(base + 0.2);
    for (const bad of ['soft focus', 'film grain', 'black and white', 'wide shot', 'muted colors']) expect(avg([bad]), bad).toBeLessThan(base - 0.2);
  });
  it('changes with the look alone when the picture is the same scene', () => {
    const s = scenes[0]!;
    const look: Look = { ...DEFAULT_LOOK, blur: 1.3 };
    expect(aestheticScore(renderScene(s, { look }))).toBeLessThan(aestheticScore(renderScene(s)));
  });
});

describe('validateScene', () => {
  it('names the bad field', () => {
    const s = sampleScene(1);
    expect(() => validateScene({ ...s, background: 'mars' as never })).toThrow(/scene.background: expected one of/);
    expect(() => validateScene({ ...s, groups: [{ ...s.groups[0]!, count: 9 }] })).toThrow(/scene.groups\[0\].count/);
    expect(() => validateScene({ ...s, modifiers: ['a, b'] })).toThrow(/scene.modifiers/);
    expect(() => validateScene(s)).not.toThrow();
  });
});
