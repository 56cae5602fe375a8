/**
 * Contact sheet: one PNG with a row per validation prompt, `original | enhanced` side by side,
 * captioned with the prompt, the rewards and the rewrite.
 *
 * Captions are an SVG text overlay composited by sharp (librsvg + the system's fonts through
 * fontconfig; the font family is a generic list ending in `sans-serif`, nothing is fetched).
 *
 * Layout (all in pixels; `lh` = round(fontSize × 1.35)):
 * ```
 * padding | header (column titles, height lh + padding)
 * per row:  promptLines × lh        prompt caption, full width
 *           tileSize                original tile | padding | enhanced tile
 *           lh                      reward of each tile, under it
 *           rewriteLines × lh       the rewrite, full width
 *           padding
 * width  = 2 · tileSize + 3 · padding
 * height = padding + header + rows · rowHeight
 * ```
 */
import { EvalError } from './errors.js';
import type { RenderedImage } from './interfaces.js';
import { escapeHtml, stripInvalidXmlCharacters, wrapText } from './text.js';

/** One side of a contact sheet row. */
export interface ContactSheetTile {
  /** The image; absent draws a grey placeholder (e.g. a failed render). */
  image?: RenderedImage;
  /** Caption under the tile, e.g. `original 0.3120`. */
  label: string;
}

/** One row of a contact sheet. */
export interface ContactSheetEntry {
  /** Caption above the images (the user prompt), wrapped to `promptLines` lines. */
  title: string;
  original: ContactSheetTile;
  enhanced: ContactSheetTile;
  /** Text below the images (the rewrite), wrapped to `rewriteLines` lines. */
  note?: string;
}

/** Options of {@link renderContactSheet}. */
export interface ContactSheetOptions {
  /** Side of the square tile each image is fitted into (default: 256). */
  tileSize?: number;
  /** Space around and between tiles (default: 12). */
  padding?: number;
  /** Caption font size (default: 13). */
  fontSize?: number;
  /** Lines for the prompt caption (default: 2). */
  promptLines?: number;
  /** Lines for the rewrite (default: 3). */
  rewriteLines?: number;
  /** Column titles (default: `['original', 'enhanced']`). */
  columnTitles?: [string, string];
  /** Background colour (default: `#ffffff`). */
  background?: string;
}

/** Resolved layout of a contact sheet. */
export interface ContactSheetLayout {
  width: number;
  height: number;
  tileSize: number;
  padding: number;
  fontSize: number;
  lineHeight: number;
  headerHeight: number;
  rowHeight: number;
  promptLines: number;
  rewriteLines: number;
}

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new EvalError('EVAL_INVALID_ARGUMENT', `contact sheet option ${name} must be an integer ≥ ${min}, received ${value}`);
  }
  return value;
}

/** The layout (and thus the PNG size) of a sheet with `rows` rows. */
export function contactSheetLayout(rows: number, options: ContactSheetOptions = {}): ContactSheetLayout {
  positiveInt('rows', rows, 1);
  const tileSize = positiveInt('tileSize', options.tileSize ?? 256, 16);
  const padding = positiveInt('padding', options.padding ?? 12, 0);
  const fontSize = positiveInt('fontSize', options.fontSize ?? 13, 6);
  const promptLines = positiveInt('promptLines', options.promptLines ?? 2, 0);
  const rewriteLines = positiveInt('rewriteLines', options.rewriteLines ?? 3, 0);
  const lineHeight = Math.round(fontSize * 1.35);
  const headerHeight = lineHeight + padding;
  const rowHeight = promptLines * lineHeight + tileSize + lineHeight + rewriteLines * lineHeight + padding;
  return {
    width: 2 * tileSize + 3 * padding,
    height: padding + headerHeight + rows * rowHeight,
    tileSize,
    padding,
    fontSize,
    lineHeight,
    headerHeight,
    rowHeight,
    promptLines,
    rewriteLines,
  };
}

/** Throws unless `image` is a well-formed {@link RenderedImage}; returns its channel count. */
export function checkImage(image: RenderedImage, what = 'image'): 3 | 4 {
  const channels = image.channels ?? 3;
  if (!Number.isSafeInteger(image.width) || image.width <= 0 || !Number.isSafeInteger(image.height) || image.height <= 0) {
    throw new EvalError('EVAL_CONTRACT_VIOLATION', `${what}: width and height must be positive integers, received ${image.width}×${image.height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new EvalError('EVAL_CONTRACT_VIOLATION', `${what}: channels must be 3 or 4, received ${String(channels)}`);
  }
  if (!(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * channels) {
    throw new EvalError(
      'EVAL_CONTRACT_VIOLATION',
      `${what}: data must be a Uint8Array of ${image.width}×${image.height}×${channels} = ${image.width * image.height * channels} bytes, received ${image.data instanceof Uint8Array ? image.data.length : typeof image.data}`,
    );
  }
  return channels;
}

/** Encode one {@link RenderedImage} as PNG (sharp). */
export async function encodePng(image: RenderedImage): Promise<Uint8Array> {
  const channels = checkImage(image);
  const sharp = (await import('sharp')).default;
  const buffer = await sharp(image.data, { raw: { width: image.width, height: image.height, channels } }).png().toBuffer();
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

function svgText(x: number, y: number, text: string, attributes = ''): string {
  return `<text x="${x}" y="${y}"${attributes}>${escapeHtml(stripInvalidXmlCharacters(text))}</text>`;
}

/**
 * Render a contact sheet PNG of `entries` (one row each). Images are fitted into square tiles
 * (aspect kept, letterboxed): enlarged with nearest-neighbour (crisp pixels for tiny models),
 * reduced with Lanczos-3.
 * @returns the PNG bytes; its size is {@link contactSheetLayout}`(entries.length, options)`.
 * @throws EvalError `EVAL_INVALID_ARGUMENT` for no entries or bad options,
 *   `EVAL_CONTRACT_VIOLATION` for a malformed image, `EVAL_OUTPUT_FAILED` when sharp fails.
 */
export async function renderContactSheet(entries: readonly ContactSheetEntry[], options: ContactSheetOptions = {}): Promise<Uint8Array> {
  if (entries.length === 0) throw new EvalError('EVAL_INVALID_ARGUMENT', 'renderContactSheet: no entries');
  const layout = contactSheetLayout(entries.length, options);
  const { width, height, tileSize, padding, lineHeight, fontSize } = layout;
  const background = options.background ?? '#ffffff';
  const [leftTitle, rightTitle] = options.columnTitles ?? ['original', 'enhanced'];
  entries.forEach((entry, row) => {
    if (entry.original.image) checkImage(entry.original.image, `contact sheet row ${row} original image`);
    if (entry.enhanced.image) checkImage(entry.enhanced.image, `contact sheet row ${row} enhanced image`);
  });

  const sharp = (await import('sharp')).default;
  const textWidthChars = (pixels: number) => Math.floor(pixels / (fontSize * 0.58));
  const fullWidthChars = textWidthChars(width - 2 * padding);
  const tileChars = textWidthChars(tileSize);
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="#1f2328">`,
    svgText(padding, padding + fontSize, leftTitle, ' font-weight="bold"'),
    svgText(2 * padding + tileSize, padding + fontSize, rightTitle, ' font-weight="bold"'),
  ];
  const composites: Array<{ input: Buffer; top: number; left: number; raw?: { width: number; height: number; channels: 3 | 4 } }> = [];

  try {
    for (const [row, entry] of entries.entries()) {
      const top = padding + layout.headerHeight + row * layout.rowHeight;
      wrapText(entry.title, fullWidthChars, layout.promptLines).forEach((line, index) => {
        svg.push(svgText(padding, top + index * lineHeight + fontSize, line, index === 0 ? ' font-weight="bold"' : ''));
      });
      const tileTop = top + layout.promptLines * lineHeight;
      for (const [column, tile] of [entry.original, entry.enhanced].entries()) {
        const left = padding + column * (tileSize + padding);
        if (tile.image) {
          const channels = tile.image.channels ?? 3;
          const enlarge = tile.image.width <= tileSize && tile.image.height <= tileSize;
          const resized = await sharp(tile.image.data, { raw: { width: tile.image.width, height: tile.image.height, channels } })
            .removeAlpha()
            .resize(tileSize, tileSize, { fit: 'contain', background, kernel: enlarge ? 'nearest' : 'lanczos3' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          composites.push({
            input: resized.data,
            raw: { width: resized.info.width, height: resized.info.height, channels: resized.info.channels as 3 | 4 },
            top: tileTop,
            left,
          });
        } else {
          svg.push(`<rect x="${left}" y="${tileTop}" width="${tileSize}" height="${tileSize}" fill="#d0d7de"/>`);
          svg.push(svgText(left + tileSize / 2, tileTop + tileSize / 2, 'no image', ' text-anchor="middle" fill="#57606a"'));
        }
        const [label] = wrapText(tile.label, tileChars, 1);
        if (label) svg.push(svgText(left, tileTop + tileSize + fontSize + 2, label));
      }
      const noteTop = tileTop + tileSize + lineHeight;
      if (entry.note) {
        wrapText(entry.note, fullWidthChars, layout.rewriteLines).forEach((line, index) => {
          svg.push(svgText(padding, noteTop + index * lineHeight + fontSize + 2, line, ' fill="#0b5394" font-style="italic"'));
        });
      }
    }
    svg.push('</svg>');
    composites.push({ input: Buffer.from(svg.join('\n')), top: 0, left: 0 });
    // Composition yields RGBA (the SVG layer has alpha); a second pass drops the opaque alpha channel.
    const composed = await sharp({ create: { width, height, channels: 3, background } }).composite(composites).raw().toBuffer({ resolveWithObject: true });
    const png = await sharp(composed.data, { raw: { width, height, channels: composed.info.channels } })
      .removeAlpha()
      .png({ compressionLevel: 6 })
      .toBuffer();
    return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
  } catch (error) {
    if (EvalError.isInstance(error)) throw error;
    throw new EvalError('EVAL_OUTPUT_FAILED', `renderContactSheet: sharp could not compose the sheet (${(error as Error).message})`, { cause: error });
  }
}
