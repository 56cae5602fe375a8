/**
 * Prompt modifiers and their visual effects. A caption is a subject (what is drawn) followed by
 * comma-separated modifier phrases (`a red circle, golden hour light, rule of thirds, 8k`). Each
 * phrase gets at most one effect: the first rule of {@link MODIFIER_RULES} whose pattern matches
 * the lower-cased phrase; a phrase no rule matches has no effect (camera bodies, resolution and
 * "masterpiece" words, moods, painting media other than those listed). Effects combine into a
 * {@link Look}, the rendering parameters of a picture; several phrases with the same effect do
 * not stack beyond the first (a look is a set of switches and levels, not a sum), so repeating a
 * modifier never buys more effect.
 */

/** How a picture is rendered besides its subject. Defaults: {@link DEFAULT_LOOK}. */
export interface Look {
  /** Exposure shift added to every channel (default 0). */
  brightness: number;
  /** Contrast around mid-gray 0.5 (default 1). */
  contrast: number;
  /** Saturation multiplier (default 1; 0 is gray). */
  saturation: number;
  /** Colour temperature: > 0 warm (more red, less blue), < 0 cool (default 0). */
  temperature: number;
  /** Darkening towards the corners, 0–1 (default 0). */
  vignette: number;
  /** Gaussian blur of the whole image, σ in pixels at 64 px (default 0). */
  blur: number;
  /** Background blurred (σ in pixels at 64 px) and sprinkled with soft bokeh discs (default 0). */
  backgroundBlur: number;
  /** Unsharp-mask amount (default 0). */
  sharpen: number;
  /** Per-pixel noise σ (default 0.015: a faint sensor grain). */
  grain: number;
  /** Surface pattern on objects and backgrounds, 0–1 (default 0: flat colours). */
  texture: number;
  /** Spherical shading of objects (a 3D-render look), 0–1 (default 0). */
  shading: number;
  /** Draw objects as dark outlines on paper (line art) (default false). */
  outline: boolean;
  /** Coloured halo around objects, 0–1 (default 0). */
  glow: number;
  /** Bright edge on the lit (upper-left) side of objects, 0–1 (default 0). */
  rimLight: number;
  /** Diagonal light rays (dappled light, volumetric beams), 0–1 (default 0). */
  rays: number;
  /** Tone: colour, grayscale or sepia (default `color`). */
  tone: 'color' | 'gray' | 'sepia';
  /** Pixel block size for a pixel-art look at 64 px (default 1: off). */
  pixelate: number;
  /** Pastel wash: desaturate and lighten towards paper white, 0–1 (default 0). */
  pastel: number;
  /** Object size multiplier (default 1). */
  scale: number;
  /** Where objects go, overriding the caption's position (default `caption`). */
  placement: 'caption' | 'center' | 'thirds';
}

/** The look of a caption without modifiers. */
export const DEFAULT_LOOK: Readonly<Look> = Object.freeze({
  brightness: 0,
  contrast: 1,
  saturation: 1,
  temperature: 0,
  vignette: 0,
  blur: 0,
  backgroundBlur: 0,
  sharpen: 0,
  grain: 0.015,
  texture: 0,
  shading: 0,
  outline: false,
  glow: 0,
  rimLight: 0,
  rays: 0,
  tone: 'color',
  pixelate: 1,
  pastel: 0,
  scale: 1,
  placement: 'caption',
});

/** Effect identifiers, one per rule. */
export type EffectId =
  | 'monochrome' | 'sepia' | 'pixel-art' | 'line-art' | 'pastel' | 'render-3d' | 'neon' | 'soft-focus' | 'background-blur'
  | 'vignette' | 'low-key' | 'warm-light' | 'cool-light' | 'high-key' | 'soft-light' | 'rays' | 'hard-light' | 'glow'
  | 'centered' | 'thirds' | 'close-up' | 'wide' | 'minimalist' | 'high-contrast' | 'vivid' | 'muted' | 'sharp' | 'detailed'
  | 'film-grain';

/** One modifier rule: which phrases it catches and what it does to the look. */
export interface ModifierRule {
  /** Effect identifier. */
  id: EffectId;
  /** Tested on the lower-cased phrase. */
  pattern: RegExp;
  /** What it does, in words (for docs and reports). */
  description: string;
  /** Direction of the effect, as the tests measure it. */
  direction: string;
  /** Apply the effect to a look (in place). */
  apply(look: Look): void;
}

/** The rules, most specific first; a phrase takes the first that matches. */
export const MODIFIER_RULES: readonly ModifierRule[] = [
  { id: 'monochrome', pattern: /black and white|monochrome|grayscale|greyscale|\bnoir\b/, description: 'grayscale picture', direction: 'saturation → 0', apply: (l) => void (l.tone = 'gray') },
  { id: 'sepia', pattern: /sepia|vintage|old photo|antique|daguerreotype/, description: 'sepia-toned picture', direction: 'brown monotone (R > G > B)', apply: (l) => void (l.tone = 'sepia') },
  { id: 'pixel-art', pattern: /pixel art|8-bit|16-bit|pixelated/, description: 'pixel blocks of 4 px', direction: 'piecewise-constant 4×4 blocks', apply: (l) => void (l.pixelate = 4) },
  { id: 'pastel', pattern: /pastel|watercolou?r|gouache|chalk/, description: 'pastel wash (lighter, less saturated, softer)', direction: 'brighter, less saturated', apply: (l) => { l.pastel = 0.45; l.blur = Math.max(l.blur, 0.5); } },
  { id: 'line-art', pattern: /pencil|sketch|line ?art|linework|ink drawing|charcoal|drawing/, description: 'dark outlines on paper', direction: 'objects become outlines, background paper-white', apply: (l) => void (l.outline = true) },
  { id: 'render-3d', pattern: /3d|octane|render|claymation|clay|isometric|cgi/, description: 'spherical shading of objects', direction: 'luminance gradient across each object', apply: (l) => void (l.shading = 0.8) },
  { id: 'neon', pattern: /neon|cyberpunk|synthwave/, description: 'neon: dark surroundings, glowing saturated objects', direction: 'darker background, halo, more saturation', apply: (l) => { l.glow = Math.max(l.glow, 0.9); l.brightness = Math.min(l.brightness, -0.25); l.saturation = Math.max(l.saturation, 1.4); } },
  { id: 'rays', pattern: /dappled|sunbeam|light rays|volumetric|shafts of light|god rays|crepuscular|streaming in/, description: 'diagonal light rays across the picture', direction: 'periodic diagonal brightness bands', apply: (l) => void (l.rays = 0.6) },
  { id: 'soft-focus', pattern: /soft focus|dreamy|dreamlike|hazy|haze|\bmist|misty|fog|blurry(?! background)|out of focus/, description: 'whole picture blurred', direction: 'less edge energy', apply: (l) => void (l.blur = Math.max(l.blur, 1.3)) },
  { id: 'background-blur', pattern: /bokeh|blurred background|blurry background|background blur|depth of field|defocused background/, description: 'background blurred with soft bokeh discs; objects stay sharp', direction: 'background variance from soft blobs, no fine detail there', apply: (l) => void (l.backgroundBlur = 2.5) },
  { id: 'vignette', pattern: /vignett/, description: 'darker corners', direction: 'corners darker than centre', apply: (l) => void (l.vignette = Math.max(l.vignette, 0.6)) },
  { id: 'low-key', pattern: /low-key|low key|moody|\bdark\b|darkness|chiaroscuro|dramatic shadows|gritty|foreboding|gloomy|shadowy|somber/, description: 'low-key lighting: darker, deeper shadows, vignette', direction: 'lower mean luminance', apply: (l) => { l.brightness = Math.min(l.brightness, -0.28); l.vignette = Math.max(l.vignette, 0.5); l.contrast = Math.max(l.contrast, 1.15); } },
  { id: 'thirds', pattern: /rule of thirds|golden ratio|off-center|off-centre/, description: 'objects on a third point', direction: 'object mass near (1/3, 1/3)', apply: (l) => void (l.placement = 'thirds') },
  { id: 'warm-light', pattern: /golden|warm|sunset|sunrise|dawn|candle|lamp|torch|firelight|amber|alpenglow|afternoon|orange light|tungsten/, description: 'warm light: colour temperature up, light falling from the top', direction: 'R up, B down', apply: (l) => { l.temperature = Math.max(l.temperature, 0.35); l.brightness = Math.max(l.brightness, 0.03); } },
  { id: 'cool-light', pattern: /\bcool\b|\bcold\b|blue hour|moonlight|moonlit|icy|\bteal\b|silver|twilight|starlight/, description: 'cool light: colour temperature down', direction: 'B up, R down', apply: (l) => void (l.temperature = Math.min(l.temperature, -0.35)) },
  { id: 'vivid', pattern: /vivid|vibrant|\bsaturated|colou?rful|rich colou?rs|bright colou?rs|popping/, description: 'saturation 1.6×', direction: 'higher saturation', apply: (l) => void (l.saturation = Math.max(l.saturation, 1.6)) },
  { id: 'high-key', pattern: /high-key|high key|\bbright\b|airy|luminous|sunny|overexposed/, description: 'high-key lighting: brighter', direction: 'higher mean luminance', apply: (l) => void (l.brightness = Math.max(l.brightness, 0.12)) },
  { id: 'hard-light', pattern: /hard|harsh|dramatic|rim light|rim lighting|backlight|side light|side lighting|rembrandt|split lighting|spotlight/, description: 'hard light: rim of light on objects, more contrast', direction: 'bright object edges, higher contrast', apply: (l) => { l.rimLight = Math.max(l.rimLight, 0.8); l.contrast = Math.max(l.contrast, 1.15); } },
  { id: 'glow', pattern: /glow|glowing|radiant|shimmering|shining|bioluminescent|emissive|magical light/, description: 'coloured halo around objects', direction: 'object colour bleeds into the background near objects', apply: (l) => void (l.glow = Math.max(l.glow, 0.7)) },
  { id: 'soft-light', pattern: /soft|diffused|overcast|gentle|ambient|window light|softbox|even lighting|natural light/, description: 'soft light: lower contrast, lifted shadows', direction: 'lower contrast', apply: (l) => { l.contrast = Math.min(l.contrast, 0.75); l.brightness = Math.max(l.brightness, 0.04); } },
  { id: 'centered', pattern: /center|centre|\bsymmetr|central/, description: 'objects grouped at the centre', direction: 'object mass centred', apply: (l) => void (l.placement = 'center') },
  { id: 'close-up', pattern: /close-up|close up|closeup|tight crop|macro|fill(s|ing)? the (whole )?frame|detail shot|tight framing/, description: 'objects 1.5× larger', direction: 'larger object area', apply: (l) => void (l.scale = Math.max(l.scale, 1.5)) },
  { id: 'wide', pattern: /wide shot|wide angle|wide-angle|establishing|negative space|far away|distant|from afar|aerial|panoram|tiny figures/, description: 'objects 0.6× smaller', direction: 'smaller object area', apply: (l) => void (l.scale = Math.min(l.scale, 0.6)) },
  { id: 'minimalist', pattern: /minimal|clean|simple|uncluttered|flat|plain/, description: 'clean flat picture: no grain, no texture', direction: 'no pixel noise', apply: (l) => { l.grain = 0; l.texture = 0; } },
  { id: 'high-contrast', pattern: /high contrast|contrast|punchy|high dynamic range|\bhdr\b|bold/, description: 'contrast 1.45×', direction: 'higher luminance spread', apply: (l) => void (l.contrast = Math.max(l.contrast, 1.45)) },
  { id: 'muted', pattern: /muted|desaturated|earthy|faded|subdued|washed out|\bpale\b|understated/, description: 'saturation 0.45×', direction: 'lower saturation', apply: (l) => void (l.saturation = Math.min(l.saturation, 0.45)) },
  { id: 'sharp', pattern: /sharp|crisp|in focus|clarity|well defined|razor/, description: 'sharpened edges, no grain', direction: 'more edge energy', apply: (l) => { l.sharpen = 0.8; l.grain = Math.min(l.grain, 0.008); } },
  { id: 'detailed', pattern: /detail|intricate|textur|ornate|elaborate|fine craftsmanship|patterned/, description: 'fine surface pattern on objects and background', direction: 'more fine-scale variance inside objects', apply: (l) => void (l.texture = Math.max(l.texture, 0.9)) },
  { id: 'film-grain', pattern: /grain|grainy|\bfilm\b|35mm film|on 35mm|kodak|analog|polaroid|high iso|noisy/, description: 'strong film grain, slightly warm', direction: 'more pixel noise', apply: (l) => { l.grain = Math.max(l.grain, 0.07); l.temperature = Math.max(l.temperature, 0.1); } },
];

/** Normalise a phrase: lower case, single spaces, trimmed. */
export function normalizePhrase(phrase: string): string {
  return phrase.toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** The rule a modifier phrase triggers, or undefined when it has no effect. */
export function ruleOf(phrase: string): ModifierRule | undefined {
  const p = normalizePhrase(phrase);
  if (p === '') return undefined;
  return MODIFIER_RULES.find((rule) => rule.pattern.test(p));
}

/** The look of a list of modifier phrases, applied in order over {@link DEFAULT_LOOK}. */
export function lookOf(phrases: readonly string[]): Look {
  const look: Look = { ...DEFAULT_LOOK };
  const seen = new Set<EffectId>();
  for (const phrase of phrases) {
    const rule = ruleOf(phrase);
    if (!rule || seen.has(rule.id)) continue;
    seen.add(rule.id);
    rule.apply(look);
  }
  return look;
}

/** Effects of a list of phrases, in order, without repeats. */
export function effectsOf(phrases: readonly string[]): EffectId[] {
  const out: EffectId[] = [];
  for (const phrase of phrases) {
    const id = ruleOf(phrase)?.id;
    if (id && !out.includes(id)) out.push(id);
  }
  return out;
}

/**
 * Modifier phrases the dataset writes into captions, by effect (hand-picked from the prompt
 * enhancer's phrase banks, `tools/data/phrase-banks.mjs`, plus a few common ones), and phrases
 * with no effect. Captions mix both, so the models learn which words change the picture.
 */
export const EFFECT_PHRASES: Readonly<Record<EffectId, readonly string[]>> = {
  monochrome: ['black and white', 'monochrome', 'black and white photo'],
  sepia: ['sepia tones', 'vintage photo', 'sepia'],
  'pixel-art': ['pixel art', '8-bit pixel art'],
  'line-art': ['pencil sketch', 'colored pencil drawing', 'line art', 'ink drawing'],
  pastel: ['watercolor illustration', 'soft pastel drawing', 'gouache painting', 'pastel colors'],
  'render-3d': ['cute 3d render', 'octane render', '3d render', 'claymation style'],
  neon: ['neon glow', 'neon lighting', 'cyberpunk'],
  'soft-focus': ['soft focus', 'dreamy', 'soft haze in the distance', 'hazy'],
  'background-blur': ['softly blurred background', 'blurred background', 'shallow depth of field', 'creamy background bokeh'],
  vignette: ['vignette', 'subtle vignette'],
  'low-key': ['moody low-key lighting', 'moody atmosphere', 'dramatic shadows', 'chiaroscuro contrast', 'dark moody backdrop'],
  'warm-light': ['golden hour light', 'golden hour', 'warm evening glow', 'warm afternoon sunlight', 'candlelight', 'warm cozy glow', 'warm lamplight'],
  'cool-light': ['cool morning light', 'cold blue light', 'moonlit blue tones', 'blue hour glow', 'silver moonlight'],
  'high-key': ['bright even lighting', 'airy and bright', 'high-key lighting', 'bright natural daylight'],
  'soft-light': ['soft diffused light', 'soft natural light', 'soft window light', 'soft overcast light', 'gentle diffused daylight', 'soft ambient light'],
  rays: ['dappled sunlight', 'volumetric light rays', 'shafts of light through mist', 'golden sunbeams'],
  'hard-light': ['dramatic backlight', 'rim light', 'hard sunlight', 'dramatic side lighting', 'gentle rim light'],
  glow: ['ethereal glow', 'glowing edges', 'magical light', 'soft bioluminescent glow'],
  centered: ['centered composition', 'centered framing', 'symmetrical composition', 'symmetrical framing', 'centered symmetrical framing'],
  thirds: ['rule of thirds', 'golden ratio composition'],
  'close-up': ['close-up', 'close-up view', 'tight crop', 'filling the whole frame', 'macro shot'],
  wide: ['wide shot', 'epic wide shot', 'plenty of negative space', 'wide establishing view'],
  minimalist: ['minimalist', 'clean image', 'clean simple shapes', 'flat vector illustration', 'uncluttered background'],
  'high-contrast': ['high contrast', 'high dynamic range', 'bold shapes'],
  vivid: ['vivid colors', 'vibrant colors', 'bright saturated colors', 'colorful'],
  muted: ['muted colors', 'muted earthy tones', 'desaturated', 'faded colors'],
  sharp: ['sharp focus', 'tack sharp', 'crisp detail', 'crisp textures'],
  detailed: ['highly detailed', 'intricate details', 'fine detail', 'rich textures', 'detailed textures', 'ornate details'],
  'film-grain': ['film grain', 'kodak gold 200 film', 'shot on 35mm', 'high iso grain', 'polaroid photo'],
};

/** Phrases the dataset writes that change nothing (quality words, cameras, moods, media not modelled). */
export const NO_EFFECT_PHRASES: readonly string[] = [
  '8k', '4k uhd', 'high resolution', 'masterpiece', 'best quality', 'trending on artstation', 'award-winning photo',
  'professional photography', 'photorealistic', 'ultra realistic', 'canon eos r5', 'leica q2', 'sony a7r iv', 'nikon z7',
  'fujifilm x100v', 'dslr', 'prime lens', 'f/1.8', '50mm lens', 'raw photo', 'magazine quality', 'beautiful artwork',
  'gallery quality', 'polished finish', 'mysterious aura', 'calm atmosphere', 'nostalgic atmosphere', 'serene mood', 'playful mood',
  'oil painting', 'digital painting', 'editorial photo', 'studio photo', 'eye-level view', 'slightly low angle', 'overhead view',
  'stunning', 'beautiful', 'elegant and refined', 'whimsical', 'cinematic', 'epic', 'realistic proportions',
];
