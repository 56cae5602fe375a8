/**
 * Failure detection for generated prompts and the deterministic rule-based enrichment used in their
 * place.
 *
 * A completion fails when (checked in this order):
 * - `empty`: the post-processed text has fewer than 3 characters or no letter;
 * - `loop`: the raw completion repeats itself: ≥ 8 words with fewer than 40 % distinct, or a group
 *   of 1–4 words repeated 3 times in a row;
 * - `dropped-subject`: fewer than half (at least one) of the prompt's content words appear in the
 *   result. Content words are letter runs of ≥ 3 letters that are not stop words, compared
 *   lower-cased with a trailing plural `s`/`es` removed.
 *
 * The enrichment keeps the user's prompt verbatim and appends descriptors of its category (given,
 * or inferred from keywords; `general` otherwise), chosen by an FNV-1a hash of the prompt so the
 * same prompt always gets the same text, then cut to CLIP's window.
 */
import { truncateToClipTokens } from './post-process.js';

/** Why a generated prompt was rejected. */
export type FailureReason = 'error' | 'empty' | 'loop' | 'dropped-subject';

const STOP_WORDS = new Set(
  'the and with for from into onto over under this that these those its his her their our your are was were has have had been being very some any each more most such than then them they there here what when where which who whom why how not but all can will just also only own same too off out about above after again against before below between both down during few further once other while of in on at by to up an as is it be or a'.split(' '),
);

/** Fold a word for comparison: lower case, trailing `es`/`s` removed (not `ss`). */
function fold(word: string): string {
  const lower = word.toLowerCase();
  if (lower.length > 4 && lower.endsWith('es') && !lower.endsWith('ses')) return lower.slice(0, -2);
  if (lower.length > 3 && lower.endsWith('s') && !lower.endsWith('ss')) return lower.slice(0, -1);
  return lower;
}

/** Content words of a prompt (see the file header), folded, in order, without duplicates. */
export function contentWords(text: string): string[] {
  const words = (text.match(/\p{L}+/gu) ?? []).filter((word) => word.length >= 3 && !STOP_WORDS.has(word.toLowerCase()));
  return [...new Set(words.map(fold))];
}

/** True when the text repeats itself (see the file header). */
export function isLooping(text: string): boolean {
  const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
  if (words.length >= 8 && new Set(words).size / words.length < 0.4) return true;
  for (let n = 1; n <= 4; n += 1) {
    for (let i = 0; i + 3 * n <= words.length; i += 1) {
      const group = words.slice(i, i + n).join(' ');
      if (words.slice(i + n, i + 2 * n).join(' ') === group && words.slice(i + 2 * n, i + 3 * n).join(' ') === group) return true;
    }
  }
  return false;
}

/** True when fewer than half (at least one) of the prompt's content words survive in `output`. */
export function dropsSubject(prompt: string, output: string): boolean {
  const wanted = contentWords(prompt);
  if (wanted.length === 0) return false;
  const present = new Set((output.match(/\p{L}+/gu) ?? []).map(fold));
  const kept = wanted.filter((word) => present.has(word)).length;
  return kept < Math.max(1, Math.ceil(wanted.length / 2));
}

/**
 * Check a completion. Returns the failure reason with a human-readable detail, or null when it is
 * acceptable. `raw` is the decoded completion before post-processing, `processed` after.
 */
export function assessCompletion(prompt: string, raw: string, processed: string): { reason: FailureReason; detail: string } | null {
  if (processed.length < 3 || !/\p{L}/u.test(processed)) {
    return { reason: 'empty', detail: `post-processed completion is empty or has no letters (${JSON.stringify(processed)})` };
  }
  if (isLooping(raw)) return { reason: 'loop', detail: `completion repeats itself: ${JSON.stringify(raw.slice(0, 80))}` };
  if (dropsSubject(prompt, processed)) {
    return {
      reason: 'dropped-subject',
      detail: `fewer than half of the prompt's content words (${contentWords(prompt).join(', ')}) appear in ${JSON.stringify(processed.slice(0, 80))}`,
    };
  }
  return null;
}

/** Descriptor lists by category. */
export const CATEGORY_DESCRIPTORS: Record<string, readonly string[]> = {
  portrait: ['expressive face', 'soft studio lighting', 'shallow depth of field', '85mm lens', 'detailed skin texture', 'natural pose', 'catchlight in the eyes', 'muted background'],
  animal: ['detailed fur', 'natural habitat', 'wildlife photography', 'telephoto lens', 'bokeh background', 'alert expression', 'golden hour light', 'sharp focus on the eyes'],
  landscape: ['sweeping vista', 'golden hour', 'dramatic clouds', 'wide-angle lens', 'atmospheric haze', 'rich colors', 'foreground detail', 'high dynamic range'],
  architecture: ['architectural photography', 'clean lines', 'symmetrical composition', 'soft daylight', 'detailed textures', 'wide-angle lens', 'blue hour', 'dramatic perspective'],
  food: ['food photography', 'appetizing', 'soft natural light', 'shallow depth of field', 'rustic table', 'steam rising', 'vibrant colors', 'close-up'],
  vehicle: ['sleek design', 'reflections on the paint', 'dynamic angle', 'motion blur', 'cinematic lighting', 'detailed chrome', 'wet asphalt', 'automotive photography'],
  fantasy: ['epic fantasy art', 'magical atmosphere', 'intricate details', 'glowing light', 'dramatic sky', 'matte painting', 'rich colors', 'volumetric light'],
  scifi: ['futuristic', 'neon lights', 'sci-fi concept art', 'intricate machinery', 'cinematic lighting', 'volumetric fog', 'high-tech details', 'vast scale'],
  object: ['product photography', 'studio lighting', 'clean background', 'sharp focus', 'fine details', 'soft shadows', 'high resolution', 'minimalist composition'],
  art: ['oil painting', 'visible brush strokes', 'rich textures', 'harmonious colors', 'museum quality', 'expressive style', 'balanced composition', 'fine art'],
  general: ['highly detailed', 'beautiful lighting', 'sharp focus', 'rich colors', 'cinematic composition', 'high resolution', 'atmospheric', 'professional photography'],
};

const CATEGORY_KEYWORDS: [string, RegExp][] = [
  ['portrait', /\b(?:portrait|person|people|man|woman|girl|boy|child|face|selfie|human|king|queen|warrior|fisherman|character)s?\b/iu],
  ['animal', /\b(?:animal|cat|dog|bird|owl|horse|lion|tiger|fox|wolf|bear|fish|puppy|kitten|elephant|deer|rabbit|wildlife|pet)s?\b/iu],
  ['scifi', /\b(?:sci-?fi|robot|spaceship|cyberpunk|futuristic|alien|space|astronaut|android|mech)s?\b/iu],
  ['fantasy', /\b(?:fantasy|dragon|wizard|elf|castle|magic|fairy|unicorn|myth|knight)s?\b/iu],
  ['vehicle', /\b(?:car|truck|vehicle|bike|motorcycle|train|plane|boat|ship|bus)s?\b/iu],
  ['food', /\b(?:food|dish|meal|cake|pizza|ramen|bread|fruit|coffee|dessert|soup|burger)s?\b/iu],
  ['architecture', /\b(?:architecture|building|house|city|tower|bridge|temple|church|interior|room|street|skyscraper)s?\b/iu],
  ['landscape', /\b(?:landscape|mountain|forest|beach|ocean|sea|lake|river|valley|desert|sky|sunset|sunrise|field|island)s?\b/iu],
  ['art', /\b(?:painting|abstract|art|drawing|sketch|illustration|watercolor)s?\b/iu],
  ['object', /\b(?:vase|bottle|watch|lamp|chair|cup|book|shoe|phone|object|product)s?\b/iu],
];

/** Map a free category label (e.g. `animals`, `Sci-Fi`) or the prompt itself to a descriptor category. */
export function resolveCategory(prompt: string, category?: string): string {
  const label = category?.toLowerCase().replace(/[^a-z]/gu, '') ?? '';
  if (label && CATEGORY_DESCRIPTORS[label]) return label;
  if (label.endsWith('s') && CATEGORY_DESCRIPTORS[label.slice(0, -1)]) return label.slice(0, -1);
  for (const [name, pattern] of CATEGORY_KEYWORDS) if (label && pattern.test(label)) return name;
  for (const [name, pattern] of CATEGORY_KEYWORDS) if (pattern.test(prompt)) return name;
  return 'general';
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const char of text) hash = Math.imul(hash ^ char.codePointAt(0)!, 0x01000193) >>> 0;
  return hash;
}

/**
 * Deterministic rule-based enrichment: the prompt (trailing punctuation removed) followed by four
 * descriptors of its category and two general quality descriptors, cut to CLIP's 77 tokens.
 */
export function ruleBasedEnrichment(prompt: string, category?: string): string {
  const base = prompt.trim().replace(/[\s,;.!?]+$/u, '');
  const resolved = resolveCategory(base, category);
  const hash = fnv1a(base.toLowerCase());
  const pick = (list: readonly string[], count: number, seed: number): string[] => {
    const out: string[] = [];
    for (let i = 0; out.length < count && i < list.length; i += 1) {
      const item = list[(seed + i * 3) % list.length]!;
      if (!out.includes(item)) out.push(item);
    }
    return out;
  };
  const descriptors = [...pick(CATEGORY_DESCRIPTORS[resolved]!, 4, hash % 8), ...pick(CATEGORY_DESCRIPTORS.general!, 2, (hash >>> 8) % 8)];
  const lowerBase = base.toLowerCase();
  const unique = [...new Set(descriptors)].filter((d) => !lowerBase.includes(d.toLowerCase()));
  return truncateToClipTokens([base, ...unique].join(', '));
}
