/**
 * Scenes: what a picture shows (one or two groups of objects, a position, a background) and how
 * it is rendered (modifier phrases), plus the seed of its layout and grain. `sampleScene` draws
 * a scene from a seed with the default mix of the dataset writer.
 */
import { WorldError } from './errors.js';
import { EFFECT_PHRASES, effectsOf, NO_EFFECT_PHRASES, type EffectId } from './modifiers.js';
import { Random } from './random.js';
import {
  BACKGROUNDS, CLASHES, COLORS, MAX_COUNT, POSITIONS, SHAPES, SIZES,
  type BackgroundName, type ColorName, type PositionName, type ShapeName, type SizeName,
} from './vocabulary.js';

/** A group of identical objects. */
export interface ObjectGroup {
  /** What is drawn. */
  shape: ShapeName;
  /** Main colour. */
  color: ColorName;
  /** Size class. */
  size: SizeName;
  /** How many (1–4). */
  count: number;
}

/** A scene: subject, background, modifiers and seed. */
export interface Scene {
  /** One or two object groups (different shape or colour). */
  groups: ObjectGroup[];
  /** Where the objects sit (`anywhere`: spread over the picture). */
  position: PositionName;
  /** Background. */
  background: BackgroundName;
  /** Modifier phrases in caption order. */
  modifiers: string[];
  /** Seed of the layout, bokeh, stars and grain (default in `sampleScene`: derived from its seed). */
  seed: number;
}

/** Options of {@link sampleScene}. */
export interface SampleSceneOptions {
  /** Probability of a second object group (default: 0.3). */
  secondGroup?: number;
  /** Probability of a named position (default: 0.35). */
  position?: number;
  /** Probability of a named background (default: 0.6). */
  background?: number;
  /** Weights of 0, 1, 2, … modifier phrases (default: [0.25, 0.2, 0.2, 0.15, 0.1, 0.1], up to 5). */
  modifierCounts?: readonly number[];
  /** Share of modifier phrases taken from the no-effect list (default: 0.3). */
  noEffectShare?: number;
  /**
   * Extra modifier phrases (for example a prompt enhancer's phrase banks): half of the phrases
   * are drawn from this pool, each with the effect its rule gives it (or none), the rest from the
   * built-in lists (default: none). Phrases containing commas are not allowed.
   */
  phrasePool?: readonly string[];
}

/** Check a scene's fields; throws WORLD_INVALID_ARGUMENT naming the field. */
export function validateScene(scene: Scene): void {
  const bad = (field: string, what: string): never => {
    throw new WorldError('WORLD_INVALID_ARGUMENT', `scene.${field}: ${what}`);
  };
  if (!Array.isArray(scene.groups) || scene.groups.length < 1 || scene.groups.length > 2) bad('groups', 'expected 1 or 2 object groups');
  scene.groups.forEach((g, i) => {
    if (!SHAPES.includes(g.shape)) bad(`groups[${i}].shape`, `expected one of ${SHAPES.join(', ')}, got ${JSON.stringify(g.shape)}`);
    if (!COLORS.includes(g.color)) bad(`groups[${i}].color`, `expected one of ${COLORS.join(', ')}, got ${JSON.stringify(g.color)}`);
    if (!SIZES.includes(g.size)) bad(`groups[${i}].size`, `expected one of ${SIZES.join(', ')}, got ${JSON.stringify(g.size)}`);
    if (!Number.isInteger(g.count) || g.count < 1 || g.count > MAX_COUNT) bad(`groups[${i}].count`, `expected an integer 1–${MAX_COUNT}, got ${g.count}`);
  });
  if (!POSITIONS.includes(scene.position)) bad('position', `expected one of ${POSITIONS.join(', ')}, got ${JSON.stringify(scene.position)}`);
  if (!BACKGROUNDS.includes(scene.background)) bad('background', `expected one of ${BACKGROUNDS.join(', ')}, got ${JSON.stringify(scene.background)}`);
  if (!Array.isArray(scene.modifiers) || scene.modifiers.some((m) => typeof m !== 'string' || m.includes(','))) {
    bad('modifiers', 'expected an array of phrases without commas');
  }
  if (!Number.isInteger(scene.seed)) bad('seed', `expected an integer, got ${scene.seed}`);
}

const EFFECT_IDS = Object.keys(EFFECT_PHRASES) as EffectId[];

/** Effects that contradict each other: a caption never asks for both. */
const EXCLUSIVE: readonly (readonly EffectId[])[] = [
  ['monochrome', 'sepia', 'vivid', 'muted', 'neon', 'pastel'],
  ['warm-light', 'cool-light'],
  ['low-key', 'high-key', 'neon'],
  ['centered', 'thirds'],
  ['close-up', 'wide'],
  ['soft-focus', 'sharp'],
  ['minimalist', 'detailed', 'film-grain'],
  ['line-art', 'pixel-art', 'render-3d', 'pastel'],
];

/**
 * Draw `k` modifier phrases: effect phrases without contradictions, mixed with no-effect ones;
 * with a `pool`, half of the draws come from it (its phrases keep whatever effect their rule gives).
 */
export function sampleModifiers(rng: Random, k: number, noEffectShare = 0.3, allowComposition = true, pool?: readonly string[]): string[] {
  const out: string[] = [];
  const effects: EffectId[] = [];
  const conflicts = (id: EffectId): boolean =>
    effects.includes(id) ||
    (!allowComposition && (id === 'centered' || id === 'thirds')) ||
    EXCLUSIVE.some((set) => set.includes(id) && set.some((other) => other !== id && effects.includes(other)));
  for (let tries = 0; out.length < k && tries < 50; tries++) {
    if (pool && pool.length > 0 && rng.chance(0.5)) {
      const phrase = rng.pick(pool);
      if (phrase.includes(',') || out.includes(phrase)) continue;
      const id = effectsOf([phrase])[0];
      if (id !== undefined && conflicts(id)) continue;
      if (id !== undefined) effects.push(id);
      out.push(phrase);
      continue;
    }
    if (rng.chance(noEffectShare)) {
      const p = rng.pick(NO_EFFECT_PHRASES);
      if (!out.includes(p)) out.push(p);
      continue;
    }
    const id = rng.pick(EFFECT_IDS);
    if (conflicts(id)) continue;
    const phrase = rng.pick(EFFECT_PHRASES[id]);
    // A phrase whose first matching rule is another effect would break the bookkeeping; the tests
    // guarantee EFFECT_PHRASES maps to its own effect, so this is only a safeguard.
    if (effectsOf([phrase])[0] !== id || out.includes(phrase)) continue;
    effects.push(id);
    out.push(phrase);
  }
  return out;
}

function sampleGroup(rng: Random, background: BackgroundName, count: number, avoid?: ObjectGroup): ObjectGroup {
  const clash = CLASHES[background] ?? [];
  for (;;) {
    const shape = rng.pick(SHAPES);
    const color = rng.pick(COLORS);
    if (clash.includes(color)) continue;
    if (avoid && (avoid.shape === shape || avoid.color === color)) continue;
    const size = SIZES[rng.weighted([0.3, 0.4, 0.3])]!;
    return { shape, color, size, count };
  }
}

/** Draw a scene from a seed (deterministic). */
export function sampleScene(seed: number, options: SampleSceneOptions = {}): Scene {
  const rng = new Random(seed);
  const background: BackgroundName = rng.chance(options.background ?? 0.6) ? rng.pick(BACKGROUNDS.filter((b) => b !== 'default')) : 'default';
  const two = rng.chance(options.secondGroup ?? 0.3);
  const first = sampleGroup(rng, background, 1 + rng.weighted(two ? [0.6, 0.3, 0.1, 0] : [0.45, 0.25, 0.18, 0.12]));
  const groups = [first];
  if (two) groups.push(sampleGroup(rng, background, 1 + rng.weighted([0.7, 0.3]), first));
  const position: PositionName = rng.chance(options.position ?? 0.35) ? rng.pick(POSITIONS.filter((p) => p !== 'anywhere')) : 'anywhere';
  const k = rng.weighted(options.modifierCounts ?? [0.25, 0.2, 0.2, 0.15, 0.1, 0.1]);
  const modifiers = sampleModifiers(rng, k, options.noEffectShare ?? 0.3, position === 'anywhere', options.phrasePool);
  return { groups, position, background, modifiers, seed: rng.int(2 ** 31) };
}
