/**
 * Minimal PNG encoder (RGB 8-bit, no interlace, zlib from node:zlib) and a contact-sheet helper,
 * for looking at world pictures without native image libraries.
 */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(buffers) {
  let c = 0xffffffff;
  for (const buf of buffers) for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeBuf = Buffer.from(type, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32([typeBuf, data]));
  return Buffer.concat([length, typeBuf, data, crc]);
}

/** Encode RGB bytes (HWC, width × height × 3) as a PNG file. */
export function encodePng(rgb, width, height) {
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: ${rgb.length} bytes for ${width}×${height} RGB`);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Tile equally sized RGB images into one sheet (`columns` per row, `gap` white pixels between). */
export function contactSheet(images, width, height, columns, gap = 2) {
  const rows = Math.ceil(images.length / columns);
  const W = columns * width + (columns + 1) * gap;
  const H = rows * height + (rows + 1) * gap;
  const out = new Uint8Array(W * H * 3).fill(255);
  images.forEach((img, i) => {
    const ox = gap + (i % columns) * (width + gap);
    const oy = gap + Math.floor(i / columns) * (height + gap);
    for (let y = 0; y < height; y++) out.set(img.subarray(y * width * 3, (y + 1) * width * 3), ((oy + y) * W + ox) * 3);
  });
  return { data: out, width: W, height: H };
}
