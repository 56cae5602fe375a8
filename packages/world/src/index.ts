/**
 * @vlm-grpo/world: a procedural captioned-image world. Seeded scenes of shapes and simple things
 * (colours, counts, sizes, positions, backgrounds), rendered to RGB with plain pixel math, with
 * captions that read like typed prompts, visual effects for prompt modifiers, a caption parser
 * and a stated aesthetic rule.
 */
export { aestheticBreakdown, aestheticScore, type AestheticBreakdown } from './aesthetic.js';
export { captionScene, groupWords, parseCaption, subjectOf, type CaptionOptions, type ParsedCaption } from './caption.js';
export { WorldError, type WorldErrorCode } from './errors.js';
export { layoutScene, type PlacedObject } from './layout.js';
export {
  DEFAULT_LOOK, EFFECT_PHRASES, MODIFIER_RULES, NO_EFFECT_PHRASES, effectsOf, lookOf, normalizePhrase, ruleOf,
  type EffectId, type Look, type ModifierRule,
} from './modifiers.js';
export { Random, deriveSeed } from './random.js';
export { gaussianBlur, renderScene, type RenderOptions, type RenderedImage } from './render.js';
export { sampleModifiers, sampleScene, validateScene, type ObjectGroup, type SampleSceneOptions, type Scene } from './scene.js';
export { partAt } from './shapes.js';
export {
  BACKGROUND_PHRASES, BACKGROUNDS, CLASHES, COLOR_RGB, COLORS, COUNT_WORDS, MAX_COUNT, PLAIN_BACKGROUND_RGB, POSITION_PHRASES,
  POSITION_REGION, POSITIONS, SHAPE_PLURALS, SHAPES, SIZE_RADIUS, SIZE_WORDS, SIZES,
  type BackgroundName, type ColorName, type PositionName, type Rgb, type ShapeName, type SizeName,
} from './vocabulary.js';
