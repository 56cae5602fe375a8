/**
 * Captions: a scene written the way people type prompts (`two small red circles on the left, blue
 * background, golden hour light, 8k`) and parsed back. Grammar (lower case; `[]` optional):
 *
 *   caption  := subject [position] [background] ("," modifier)*
 *   subject  := group [" and " group]
 *   group    := count [size] colour shape      count: a | an | two | three | four; shape plural when count > 1
 *   position := " on the left" | " at the top" | " in the top left corner" | …   (vocabulary.ts)
 *   background := " on a blue background" | " on blue" | ", blue background" | " in a grassy field" | …
 *
 * Wording varies with a seeded choice (synonyms of sizes, positions and backgrounds), and
 * {@link parseCaption} accepts every variant, so parse(caption(scene)) gives back the scene's
 * subject, position, background and modifiers.
 */
import { WorldError } from './errors.js';
import { Random } from './random.js';
import type { ObjectGroup, Scene } from './scene.js';
import {
  BACKGROUND_PHRASES, BACKGROUNDS, COLORS, COUNT_WORDS, PLAIN_BACKGROUND_RGB, POSITION_PHRASES, POSITIONS, SHAPE_PLURALS, SHAPES, SIZE_WORDS, SIZES,
  type BackgroundName, type ColorName, type PositionName, type ShapeName, type SizeName,
} from './vocabulary.js';

/** Options of {@link captionScene}. */
export interface CaptionOptions {
  /** Seed of the wording choices (default: the scene's seed). */
  wordingSeed?: number;
  /** Always use the canonical wording (first synonym) (default: false). */
  canonical?: boolean;
  /** Leave the modifiers out: the subject part only (default: false). */
  subjectOnly?: boolean;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** One group as words (`two small red circles`, `an orange star`). */
export function groupWords(group: ObjectGroup, rng?: Random): string {
  const sizeWords = SIZE_WORDS[group.size];
  const size = sizeWords.length === 0 ? '' : rng ? (rng.chance(0.6) ? sizeWords[0]! : rng.pick(sizeWords)) : sizeWords[0]!;
  const noun = group.count === 1 ? group.shape : SHAPE_PLURALS[group.shape];
  const words = [size, group.color, noun].filter(Boolean).join(' ');
  const count = group.count === 1 ? article(words) : COUNT_WORDS[group.count]!;
  return `${count} ${words}`;
}

/** The caption of a scene. */
export function captionScene(scene: Scene, options: CaptionOptions = {}): string {
  const rng = options.canonical ? undefined : new Random(options.wordingSeed ?? scene.seed);
  const pick = (list: readonly string[]): string => (rng ? (rng.chance(0.6) ? list[0]! : rng.pick(list)) : list[0]!);
  let text = scene.groups.map((g) => groupWords(g, rng)).join(' and ');
  if (scene.position !== 'anywhere') text += ` ${pick(POSITION_PHRASES[scene.position])}`;
  if (scene.background !== 'default') {
    const plain = PLAIN_BACKGROUND_RGB[scene.background] !== undefined;
    if (plain && rng?.chance(0.3)) text += `, ${scene.background} background`;
    else text += ` ${pick(BACKGROUND_PHRASES[scene.background])}`;
  }
  if (!options.subjectOnly) for (const m of scene.modifiers) text += `, ${m}`;
  return text;
}

/** What {@link parseCaption} reads from a caption. */
export type ParsedCaption = Omit<Scene, 'seed'>;

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const alt = (items: readonly string[]): string => items.map(esc).sort((a, b) => b.length - a.length).join('|');
const SIZE_OF = new Map<string, SizeName>(SIZES.flatMap((s) => SIZE_WORDS[s].map((w) => [w, s] as const)));
const SHAPE_OF = new Map<string, [ShapeName, boolean]>(SHAPES.flatMap((s) => [[s, [s, false]], [SHAPE_PLURALS[s], [s, true]]] as const));
const GROUP = `(a|an|one|two|three|four)\\s+(?:(${alt([...SIZE_OF.keys()])})\\s+)?(${alt(COLORS)})\\s+(${alt([...SHAPE_OF.keys()])})`;
const GROUP_RE = new RegExp(`^${GROUP}`);
const POSITION_LIST: [string, PositionName][] = POSITIONS.flatMap((p) => POSITION_PHRASES[p].map((ph) => [ph, p] as [string, PositionName]));
const BACKGROUND_LIST: [string, BackgroundName][] = BACKGROUNDS.flatMap((b) => [
  ...BACKGROUND_PHRASES[b].map((ph) => [` ${ph}`, b] as [string, BackgroundName]),
  ...(PLAIN_BACKGROUND_RGB[b] !== undefined && b !== 'default' ? [[`, ${b} background`, b] as [string, BackgroundName]] : []),
]).sort((a, b) => b[0].length - a[0].length);
POSITION_LIST.sort((a, b) => b[0].length - a[0].length);

function fail(caption: string, at: number, expected: string): never {
  throw new WorldError('WORLD_UNPARSABLE_CAPTION', `caption ${JSON.stringify(caption)} at character ${at}: expected ${expected}`);
}

/**
 * Parse a caption of this world's grammar. Throws WORLD_UNPARSABLE_CAPTION naming the character
 * where the subject stops making sense.
 */
export function parseCaption(caption: string): ParsedCaption {
  const text = caption.toLowerCase().replace(/\s+/gu, ' ').trim();
  let rest = text;
  const groups: ObjectGroup[] = [];
  const readGroup = (): void => {
    const m = GROUP_RE.exec(rest);
    if (!m) fail(caption, text.length - rest.length, 'a count, an optional size, a colour and a shape (e.g. "two small red circles")');
    const [all, countWord, sizeWord, color, shapeWord] = m;
    const [shape, plural] = SHAPE_OF.get(shapeWord!)!;
    const count = countWord === 'a' || countWord === 'an' || countWord === 'one' ? 1 : COUNT_WORDS.indexOf(countWord!);
    if (plural !== count > 1) fail(caption, text.length - rest.length, `${count > 1 ? 'a plural' : 'a singular'} shape after "${countWord}"`);
    groups.push({ shape, color: color as ColorName, size: sizeWord ? SIZE_OF.get(sizeWord)! : 'medium', count });
    rest = rest.slice(all.length);
  };
  readGroup();
  if (rest.startsWith(' and ')) {
    rest = rest.slice(5);
    readGroup();
  }
  let position: PositionName = 'anywhere';
  for (const [phrase, p] of POSITION_LIST) {
    if (rest.startsWith(` ${phrase}`) && /^($|[ ,])/.test(rest.slice(phrase.length + 1))) {
      position = p;
      rest = rest.slice(phrase.length + 1);
      break;
    }
  }
  let background: BackgroundName = 'default';
  for (const [phrase, b] of BACKGROUND_LIST) {
    if (rest.startsWith(phrase) && /^($|[ ,])/.test(rest.slice(phrase.length))) {
      background = b;
      rest = rest.slice(phrase.length);
      break;
    }
  }
  if (position === 'anywhere') {
    for (const [phrase, p] of POSITION_LIST) {
      if (rest.startsWith(` ${phrase}`) && /^($|[ ,])/.test(rest.slice(phrase.length + 1))) {
        position = p;
        rest = rest.slice(phrase.length + 1);
        break;
      }
    }
  }
  if (rest !== '' && !rest.startsWith(',')) fail(caption, text.length - rest.length, 'a position, a background, or "," and modifiers');
  const modifiers = rest.split(',').map((s) => s.trim()).filter(Boolean);
  return { groups, position, background, modifiers };
}

/** The subject part of a caption (everything before the first modifier), or undefined when it does not parse. */
export function subjectOf(caption: string): string | undefined {
  try {
    const parsed = parseCaption(caption);
    return captionScene({ ...parsed, modifiers: [], seed: 0 }, { canonical: true });
  } catch (error) {
    if (WorldError.isInstance(error)) return undefined;
    throw error;
  }
}
