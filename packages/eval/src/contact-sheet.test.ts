import { describe, expect, it } from 'vitest';

import { contactSheetLayout, encodePng, renderContactSheet } from './contact-sheet.js';
import type { RenderedImage } from './interfaces.js';

function solid(width: number, height: number, rgb: [number, number, number]): RenderedImage {
  const data = new Uint8Array(width * height * 3);
  for (let index = 0; index < width * height; index++) data.set(rgb, index * 3);
  return { width, height, data };
}

async function decode(png: Uint8Array) {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const pixel = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  return { info, pixel };
}

describe('contactSheetLayout', () => {
  it('computes the sheet size from the documented formula', () => {
    // lh = round(13 × 1.35) = 18; header = 18 + 12 = 30; row = 2·18 + 256 + 18 + 3·18 + 12 = 376.
    const layout = contactSheetLayout(3);
    expect(layout).toMatchObject({ lineHeight: 18, headerHeight: 30, rowHeight: 376, width: 2 * 256 + 3 * 12, height: 12 + 30 + 3 * 376 });
    expect(() => contactSheetLayout(0)).toThrow(/rows/u);
    expect(() => contactSheetLayout(1, { tileSize: 4 })).toThrow(/tileSize/u);
  });
});

describe('renderContactSheet', () => {
  it('produces a PNG of the layout size with each image in its tile and a placeholder for a missing one', async () => {
    const options = { tileSize: 64, padding: 8 };
    const png = await renderContactSheet(
      [
        { title: 'a red thing <script>alert("x")</script> & more', original: { image: solid(16, 16, [255, 0, 0]), label: 'original 0.1' }, enhanced: { image: solid(128, 64, [0, 0, 255]), label: 'enhanced 0.2' }, note: '→ rewrite \u0007 with a control character' },
        { title: 'second', original: { image: solid(16, 16, [0, 255, 0]), label: 'original' }, enhanced: { label: 'failed at render' } },
      ],
      options,
    );
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const layout = contactSheetLayout(2, options);
    const { info, pixel } = await decode(png);
    expect([info.width, info.height, info.channels]).toEqual([layout.width, layout.height, 3]);
    const tileTop = (row: number) => layout.padding + layout.headerHeight + row * layout.rowHeight + layout.promptLines * layout.lineHeight;
    const left = (column: number) => layout.padding + column * (layout.tileSize + layout.padding);
    // Row 0: a 16×16 red image enlarged to fill the 64×64 tile.
    expect(pixel(left(0) + 32, tileTop(0) + 32)).toEqual([255, 0, 0]);
    // A 128×64 blue image fitted (contain): blue in the middle, white letterbox at the top.
    expect(pixel(left(1) + 32, tileTop(0) + 32)).toEqual([0, 0, 255]);
    expect(pixel(left(1) + 32, tileTop(0) + 4)).toEqual([255, 255, 255]);
    // Row 1: green image; the missing enhanced image is a grey (#d0d7de) placeholder.
    expect(pixel(left(0) + 10, tileTop(1) + 10)).toEqual([0, 255, 0]);
    expect(pixel(left(1) + 4, tileTop(1) + 4)).toEqual([0xd0, 0xd7, 0xde]);
    // Caption text is drawn: the prompt line above row 0 has dark pixels.
    let dark = 0;
    for (let x = layout.padding; x < layout.width - layout.padding; x++) {
      for (let y = tileTop(0) - layout.promptLines * layout.lineHeight; y < tileTop(0); y++) if (pixel(x, y)[0]! < 128) dark++;
    }
    expect(dark).toBeGreaterThan(50);
  });

  it('rejects malformed images and empty input with codes', async () => {
    await expect(renderContactSheet([])).rejects.toMatchObject({ code: 'EVAL_INVALID_ARGUMENT' });
    await expect(
      renderContactSheet([{ title: 't', original: { image: { width: 2, height: 2, data: new Uint8Array(3) }, label: '' }, enhanced: { label: '' } }]),
    ).rejects.toMatchObject({ code: 'EVAL_CONTRACT_VIOLATION', message: expect.stringMatching(/2×2×3 = 12 bytes, received 3/u) });
  });
});

describe('encodePng', () => {
  it('round-trips RGB and RGBA pixels', async () => {
    const rgba: RenderedImage = { width: 2, height: 1, channels: 4, data: new Uint8Array([1, 2, 3, 255, 4, 5, 6, 128]) };
    const sharp = (await import('sharp')).default;
    const decoded = await sharp(await encodePng(rgba)).raw().toBuffer({ resolveWithObject: true });
    expect([decoded.info.width, decoded.info.height, decoded.info.channels]).toEqual([2, 1, 4]);
    expect([...decoded.data]).toEqual([1, 2, 3, 255, 4, 5, 6, 128]);
  });
});
