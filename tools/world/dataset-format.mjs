/**
 * The world dataset file format (read by tools/world/train-all.py and by {@link readDataset}):
 *
 *   bytes 0–7     magic "VLMWRLD1"
 *   bytes 8–11    uint32 LE: byte length H of the header JSON
 *   next H bytes  header JSON (UTF-8): { format: 1, count, height, width, channels: 3,
 *                 tokens: { length: 77, bos, eos, pad }, records: [{ caption, subject, aesthetic, seed }] }
 *   zero padding up to the next multiple of 64 (D = data start)
 *   D             int32 LE token ids [count, 2, 77]: row 0 the caption, row 1 its subject (the
 *                 caption without modifiers); each BOS, tokens, EOS, then pad (= EOS), from the
 *                 world tokenizer through @vlm-grpo/sd's ClipTokenizer (texts ≤ 75 tokens)
 *   D + count·616 uint8 images [count, height, width, 3] (RGB, row-major)
 */
import { readFileSync } from 'node:fs';

/** Magic bytes at the start of a world dataset file. */
export const MAGIC = 'VLMWRLD1';
/** Token ids per text (CLIP's 77). */
export const TOKEN_LENGTH = 77;
/** Texts tokenised per record: the caption and its subject. */
export const TEXTS_PER_RECORD = 2;

/** Byte offset where the data starts for a header of `headerBytes` bytes. */
export function dataStart(headerBytes) {
  return Math.ceil((12 + headerBytes) / 64) * 64;
}

/** Serialise a dataset: `records` (caption, subject, aesthetic, seed), `tokens` Int32Array [n·2·77], `images` Uint8Array [n·h·w·3]. */
export function encodeDataset({ records, tokens, images, height, width, bos, eos, pad }) {
  const count = records.length;
  if (tokens.length !== count * TEXTS_PER_RECORD * TOKEN_LENGTH) {
    throw new Error(`encodeDataset: ${tokens.length} token ids for ${count} records (expected ${count * TEXTS_PER_RECORD * TOKEN_LENGTH})`);
  }
  if (images.length !== count * height * width * 3) throw new Error(`encodeDataset: ${images.length} image bytes for ${count} records of ${height}×${width}×3`);
  const header = Buffer.from(JSON.stringify({ format: 1, count, height, width, channels: 3, tokens: { length: TOKEN_LENGTH, perRecord: TEXTS_PER_RECORD, bos, eos, pad }, records }), 'utf8');
  const start = dataStart(header.length);
  const out = Buffer.alloc(start + tokens.byteLength + images.byteLength);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  const ids = Buffer.from(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('encodeDataset: big-endian hosts are not supported');
  ids.copy(out, start);
  Buffer.from(images.buffer, images.byteOffset, images.byteLength).copy(out, start + tokens.byteLength);
  return out;
}

/** Read a dataset file; errors name the file and what is wrong. */
export function readDataset(path) {
  const buf = readFileSync(path);
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${path}: not a world dataset (expected magic ${MAGIC})`);
  const headerBytes = buf.readUInt32LE(8);
  let header;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerBytes));
  } catch (error) {
    throw new Error(`${path}: header JSON unreadable: ${error.message}`);
  }
  if (header.format !== 1) throw new Error(`${path}: format ${header.format}, expected 1`);
  const { count, height, width } = header;
  const start = dataStart(headerBytes);
  const tokenBytes = count * TEXTS_PER_RECORD * TOKEN_LENGTH * 4;
  const expected = start + tokenBytes + count * height * width * 3;
  if (buf.length !== expected) throw new Error(`${path}: ${buf.length} bytes, expected ${expected} for ${count} records of ${height}×${width}`);
  const tokens = new Int32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + tokenBytes));
  const images = new Uint8Array(buf.buffer, buf.byteOffset + start + tokenBytes, count * height * width * 3);
  return { header, records: header.records, tokens, images };
}
