/**
 * The words of the world: shapes and simple things, colours, sizes, counts, positions and
 * backgrounds, each with the caption words that name it and the numbers the renderer uses.
 * Coordinates are fractions of the image side, x to the right and y downwards.
 */

/** An RGB colour, channels in [0, 1]. */
export type Rgb = readonly [number, number, number];

/** Shapes and simple things the world draws. */
export const SHAPES = [
  'circle', 'square', 'triangle', 'star', 'heart', 'ring', 'cross', 'diamond', 'moon', 'house', 'tree', 'flower', 'cloud',
] as const;
/** A shape name. */
export type ShapeName = (typeof SHAPES)[number];

/** Plural of each shape, as captions write it. */
export const SHAPE_PLURALS: Readonly<Record<ShapeName, string>> = {
  circle: 'circles', square: 'squares', triangle: 'triangles', star: 'stars', heart: 'hearts', ring: 'rings',
  cross: 'crosses', diamond: 'diamonds', moon: 'moons', house: 'houses', tree: 'trees', flower: 'flowers', cloud: 'clouds',
};

/** Object colours. */
export const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'white', 'black', 'brown', 'gray'] as const;
/** An object colour name. */
export type ColorName = (typeof COLORS)[number];

/** RGB of each object colour. */
export const COLOR_RGB: Readonly<Record<ColorName, Rgb>> = {
  red: [0.86, 0.12, 0.12],
  orange: [0.96, 0.55, 0.1],
  yellow: [0.97, 0.86, 0.14],
  green: [0.16, 0.62, 0.2],
  blue: [0.14, 0.34, 0.86],
  purple: [0.55, 0.2, 0.72],
  pink: [0.97, 0.52, 0.72],
  white: [0.97, 0.97, 0.97],
  black: [0.07, 0.07, 0.08],
  brown: [0.5, 0.3, 0.13],
  gray: [0.52, 0.52, 0.54],
};

/** Object sizes; `medium` is never written in captions. */
export const SIZES = ['small', 'medium', 'big'] as const;
/** A size. */
export type SizeName = (typeof SIZES)[number];

/** Radius of one object as a fraction of the image side, by size (before count and modifier scaling). */
export const SIZE_RADIUS: Readonly<Record<SizeName, number>> = { small: 0.09, medium: 0.145, big: 0.215 };

/** Caption words of each size (the first is what generated captions use most). */
export const SIZE_WORDS: Readonly<Record<SizeName, readonly string[]>> = {
  small: ['small', 'tiny', 'little'],
  medium: [],
  big: ['big', 'large', 'huge'],
};

/** Count words, index = count. */
export const COUNT_WORDS: readonly string[] = ['', 'a', 'two', 'three', 'four'];
/** Largest count of one group. */
export const MAX_COUNT = 4;

/** Where a scene's objects sit. */
export const POSITIONS = ['anywhere', 'left', 'right', 'top', 'bottom', 'center', 'top left', 'top right', 'bottom left', 'bottom right'] as const;
/** A position. */
export type PositionName = (typeof POSITIONS)[number];

/** Region (x0, y0, x1, y1) of object centres for each position. */
export const POSITION_REGION: Readonly<Record<PositionName, readonly [number, number, number, number]>> = {
  anywhere: [0.22, 0.22, 0.78, 0.78],
  left: [0.2, 0.25, 0.36, 0.75],
  right: [0.64, 0.25, 0.8, 0.75],
  top: [0.25, 0.2, 0.75, 0.34],
  bottom: [0.25, 0.66, 0.75, 0.8],
  center: [0.42, 0.42, 0.58, 0.58],
  'top left': [0.2, 0.2, 0.34, 0.34],
  'top right': [0.66, 0.2, 0.8, 0.34],
  'bottom left': [0.2, 0.66, 0.34, 0.8],
  'bottom right': [0.66, 0.66, 0.8, 0.8],
};

/** Caption phrases of each position (the first is the canonical one). */
export const POSITION_PHRASES: Readonly<Record<PositionName, readonly string[]>> = {
  anywhere: [],
  left: ['on the left', 'on the left side'],
  right: ['on the right', 'on the right side'],
  top: ['at the top', 'near the top'],
  bottom: ['at the bottom', 'near the bottom'],
  center: ['in the center', 'in the middle'],
  'top left': ['in the top left corner', 'in the top left'],
  'top right': ['in the top right corner', 'in the top right'],
  'bottom left': ['in the bottom left corner', 'in the bottom left'],
  'bottom right': ['in the bottom right corner', 'in the bottom right'],
};

/** Backgrounds: plain colours and a few simple settings. */
export const BACKGROUNDS = [
  'default', 'white', 'black', 'gray', 'blue', 'green', 'yellow', 'pink', 'beige', 'field', 'beach', 'night', 'sky', 'underwater',
] as const;
/** A background. */
export type BackgroundName = (typeof BACKGROUNDS)[number];

/** The plain backgrounds and their RGB (`default` is the light gray used when a caption names none). */
export const PLAIN_BACKGROUND_RGB: Readonly<Partial<Record<BackgroundName, Rgb>>> = {
  default: [0.9, 0.9, 0.88],
  white: [0.98, 0.98, 0.98],
  black: [0.05, 0.05, 0.06],
  gray: [0.45, 0.45, 0.47],
  blue: [0.35, 0.55, 0.9],
  green: [0.45, 0.75, 0.4],
  yellow: [0.98, 0.9, 0.45],
  pink: [0.98, 0.75, 0.82],
  beige: [0.92, 0.85, 0.7],
};

/** Caption phrases of each background (the first is canonical; `{c}` backgrounds also accept `, <colour> background`). */
export const BACKGROUND_PHRASES: Readonly<Record<BackgroundName, readonly string[]>> = {
  default: [],
  white: ['on a white background', 'on white'],
  black: ['on a black background', 'on black'],
  gray: ['on a gray background', 'on gray'],
  blue: ['on a blue background', 'on blue'],
  green: ['on a green background', 'on green'],
  yellow: ['on a yellow background', 'on yellow'],
  pink: ['on a pink background', 'on pink'],
  beige: ['on a beige background', 'on beige'],
  field: ['in a grassy field', 'in a field'],
  beach: ['on a beach', 'at the beach'],
  night: ['at night', 'in the night sky'],
  sky: ['in the sky', 'in a blue sky'],
  underwater: ['underwater', 'under the sea'],
};

/**
 * Object colours that are hard to see on a background (too close in colour); scenes never pair
 * them, so every caption describes a visible picture.
 */
export const CLASHES: Readonly<Partial<Record<BackgroundName, readonly ColorName[]>>> = {
  default: ['white', 'gray'],
  white: ['white', 'gray'],
  black: ['black', 'brown'],
  gray: ['gray', 'black'],
  blue: ['blue', 'purple'],
  green: ['green'],
  yellow: ['yellow', 'white', 'orange'],
  pink: ['pink', 'white'],
  beige: ['white', 'yellow'],
  field: ['green'],
  beach: ['yellow', 'blue'],
  night: ['black', 'blue', 'purple', 'brown'],
  sky: ['blue', 'white'],
  underwater: ['blue', 'green'],
};
