/**
 * Streaming JSONL line reader.
 *
 * Reads a file in chunks and splits it on LF bytes, so files of any size are processed with
 * memory bounded by the longest line (`maxLineBytes`). Handles a UTF-8 byte-order mark on the
 * first line, CRLF or LF line ends, and reports invalid UTF-8 with the line number.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

import { DataError } from './errors.js';

/** One physical line of a text file. */
export interface TextLine {
  /** 1-based line number. */
  line: number;
  /** Decoded text without the line end (and without a BOM on line 1). */
  text: string;
  /** Set instead of `text` when the line's bytes are not valid UTF-8 or exceed `maxLineBytes`. */
  error?: string;
}

/** Options of {@link readTextLines}. */
export interface ReadTextLinesOptions {
  /** Longest accepted line in bytes; longer lines are reported as errors (default: 16 MiB). */
  maxLineBytes?: number;
  /** Read chunk size in bytes (default: 1 MiB). */
  chunkBytes?: number;
  /** Stops reading when aborted. */
  signal?: AbortSignal;
}

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Yield the lines of a UTF-8 text file one at a time, streaming.
 * @throws DataError `DATA_FILE_NOT_FOUND` when the path is missing or not a file.
 */
export async function* readTextLines(path: string, options: ReadTextLinesOptions = {}): AsyncGenerator<TextLine> {
  const maxLineBytes = options.maxLineBytes ?? 16 * 1024 * 1024;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DataError('DATA_FILE_NOT_FOUND', `${path}: not a regular file`);
  } catch (error) {
    if (DataError.isInstance(error)) throw error;
    throw new DataError('DATA_FILE_NOT_FOUND', `${path}: file not found or unreadable`, { cause: error });
  }
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overlong = false;
  let lineNumber = 0;

  const finishLine = (): TextLine => {
    lineNumber += 1;
    if (overlong) {
      overlong = false;
      pending = [];
      pendingBytes = 0;
      return { line: lineNumber, text: '', error: `line is longer than ${maxLineBytes} bytes` };
    }
    let bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) bytes = bytes.subarray(0, bytes.length - 1);
    if (lineNumber === 1 && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);
    }
    try {
      return { line: lineNumber, text: decoder.decode(bytes) };
    } catch {
      return { line: lineNumber, text: '', error: 'invalid UTF-8 byte sequence' };
    }
  };

  const append = (piece: Buffer) => {
    if (overlong || piece.length === 0) return;
    if (pendingBytes + piece.length > maxLineBytes) {
      overlong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(piece);
    pendingBytes += piece.length;
  };

  const stream = createReadStream(path, { highWaterMark: chunkBytes, signal: options.signal });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(LINE_FEED, start);
      if (end === -1) break;
      append(chunk.subarray(start, end));
      yield finishLine();
      start = end + 1;
    }
    // Copy the tail: the stream may reuse the chunk's memory.
    if (start < chunk.length) append(Buffer.from(chunk.subarray(start)));
  }
  if (pendingBytes > 0 || overlong) yield finishLine();
}
