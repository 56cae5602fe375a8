import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError, InvalidRecordsError } from './errors.js';
import { readTextLines } from './jsonl-reader.js';
import { loadPrompts } from './load-prompts.js';

let folder: string;
let fileCount = 0;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-data-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Write `content` to a fresh file in the test folder and return its path. */
async function fixture(content: string | Uint8Array): Promise<string> {
  const path = join(folder, `prompts-${fileCount++}.jsonl`);
  await writeFile(path, content);
  return path;
}

const line = (prompt: string, category = 'animals', difficulty = 'easy') =>
  JSON.stringify({ user_prompt: prompt, category, difficulty });

describe('loadPrompts', () => {
  it('reads LF, CRLF, a BOM and skips blank lines, keeping source line numbers', async () => {
    const path = await fixture(`\uFEFF${line('a cat')}\r\n\r\n   \n${line('a dog')}\n${line('city at night', 'photography', 'medium')}`);
    const loaded = await loadPrompts(path);
    expect(loaded.records.map((record) => record.user_prompt)).toEqual(['a cat', 'a dog', 'city at night']);
    expect(loaded.lines).toEqual([1, 4, 5]);
    expect(loaded.nonBlankLines).toBe(3);
    expect(loaded.skipped).toEqual([]);
  });

  it('in strict mode lists every bad line with file, 1-based line and reason', async () => {
    const path = await fixture(
      [
        line('a cat'),
        '{"user_prompt": "a dog", ',
        JSON.stringify({ user_prompt: 'a bird', difficulty: 'easy' }),
        JSON.stringify({ user_prompt: 'a fish', category: 5, difficulty: 'easy' }),
        JSON.stringify({ user_prompt: 'a frog', category: 'animals', difficulty: 'extreme' }),
        JSON.stringify({ user_prompt: 'a frog', category: 'animals', difficulty: 'easy', colour: 'green' }),
        '[1, 2]',
        JSON.stringify({ user_prompt: '   ', category: 'animals', difficulty: 'easy' }),
      ].join('\n'),
    );
    const error = await loadPrompts(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidRecordsError);
    const invalid = error as InvalidRecordsError;
    expect(invalid.code).toBe('DATA_INVALID_RECORDS');
    expect(DataError.isInstance(invalid)).toBe(true);
    expect(invalid.totalInvalid).toBe(7);
    expect(invalid.issues.map((issue) => issue.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(invalid.issues.every((issue) => issue.file === path)).toBe(true);
    const messages = invalid.issues.map((issue) => issue.message);
    expect(messages[0]).toMatch(/^bad JSON: /);
    expect(messages[1]).toBe('missing field "category"');
    expect(messages[2]).toBe('category: expected string, received number 5');
    expect(messages[3]).toBe('difficulty: expected one of "easy" | "medium" | "hard", received "extreme"');
    expect(messages[4]).toMatch(/^unknown key "colour"/);
    expect(messages[5]).toBe('expected a JSON object, received array');
    expect(messages[6]).toBe('user_prompt: must not be empty or whitespace only');
    expect(invalid.message).toContain(`${path}:2: bad JSON`);
  });

  it('caps the listed problems but counts them all', async () => {
    const path = await fixture(Array.from({ length: 30 }, () => 'not json').join('\n'));
    const error = (await loadPrompts(path, { maxIssues: 5 }).catch((caught: unknown) => caught)) as InvalidRecordsError;
    expect(error.issues).toHaveLength(5);
    expect(error.totalInvalid).toBe(30);
    expect(error.message).toContain('… and 25 more');
  });

  it('in skipInvalid mode keeps valid records and returns the skipped lines', async () => {
    const path = await fixture([line('a cat'), 'oops', line('a dog'), '{}'].join('\n'));
    const loaded = await loadPrompts(path, { mode: 'skipInvalid' });
    expect(loaded.records.map((record) => record.user_prompt)).toEqual(['a cat', 'a dog']);
    expect(loaded.skipped.map((issue) => issue.line)).toEqual([2, 4]);
    expect(loaded.invalidCount).toBe(2);
  });

  it('reports duplicates after normalising case and whitespace, and drops them on request', async () => {
    const path = await fixture([line('a cat'), line('A  Cat '), line('a dog'), line('a cat')].join('\n'));
    const reported = await loadPrompts(path);
    expect(reported.records).toHaveLength(4);
    expect(reported.duplicates).toEqual([
      { line: 2, firstLine: 1, userPrompt: 'A  Cat ' },
      { line: 4, firstLine: 1, userPrompt: 'a cat' },
    ]);
    const dropped = await loadPrompts(path, { duplicates: 'drop' });
    expect(dropped.records.map((record) => record.user_prompt)).toEqual(['a cat', 'a dog']);
    expect(dropped.lines).toEqual([1, 3]);
    expect(dropped.duplicates).toHaveLength(2);
  });

  it('names a missing file', async () => {
    const missing = join(folder, 'nope.jsonl');
    const error = (await loadPrompts(missing).catch((caught: unknown) => caught)) as DataError;
    expect(error.code).toBe('DATA_FILE_NOT_FOUND');
    expect(error.message).toContain(missing);
    const directory = (await loadPrompts(folder).catch((caught: unknown) => caught)) as DataError;
    expect(directory.code).toBe('DATA_FILE_NOT_FOUND');
  });

  it('reports invalid UTF-8 and overlong lines by line number', async () => {
    const path = await fixture(Buffer.concat([Buffer.from(`${line('a cat')}\n`), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), Buffer.from(`${line('x'.repeat(200))}\n`)]));
    const loaded = await loadPrompts(path, { mode: 'skipInvalid', maxLineBytes: 100 });
    expect(loaded.skipped).toEqual([
      { file: path, line: 2, message: 'invalid UTF-8 byte sequence' },
      { file: path, line: 3, message: 'line is longer than 100 bytes' },
    ]);
    expect(loaded.records).toHaveLength(1);
  });

  it('refuses a file without records, naming it and what it held (unless allowEmpty)', async () => {
    const empty = await fixture('\n\n');
    const error = (await loadPrompts(empty).catch((caught: unknown) => caught)) as DataError;
    expect(error.code).toBe('DATA_EMPTY_DATASET');
    expect(error.message).toBe(`${empty}: no prompt records: it is empty (no non-blank line). Expected one JSON object per line with user_prompt, category and difficulty.`);
    const invalid = await fixture(`{"user_prompt": 3}\n${line('a cat')}\n${line('A  Cat')}\n`);
    const skipped = (await loadPrompts(invalid, { mode: 'skipInvalid', duplicates: 'drop' }).then(() => undefined, (caught: unknown) => caught)) as DataError | undefined;
    expect(skipped).toBeUndefined();
    const allInvalid = await fixture('{"user_prompt": 3}\nnot json\n');
    const none = (await loadPrompts(allInvalid, { mode: 'skipInvalid' }).catch((caught: unknown) => caught)) as DataError;
    expect(none.code).toBe('DATA_EMPTY_DATASET');
    expect(none.message).toContain(`${allInvalid}: no prompt records: 2 non-blank lines: 2 invalid (skipped); first problem at ${allInvalid}:1: `);
    expect((await loadPrompts(empty, { allowEmpty: true })).records).toEqual([]);
  });

  it('rejects invalid options', async () => {
    const path = await fixture(line('a cat'));
    await expect(loadPrompts(path, { mode: 'lenient' as never })).rejects.toMatchObject({ code: 'DATA_INVALID_ARGUMENT' });
    await expect(loadPrompts(path, { duplicates: 'keep' as never })).rejects.toMatchObject({ code: 'DATA_INVALID_ARGUMENT' });
    await expect(loadPrompts(path, { maxIssues: 0 })).rejects.toMatchObject({ code: 'DATA_INVALID_ARGUMENT' });
  });

  it('streams a large file line by line (200 000 records)', async () => {
    const count = 200_000;
    const body = Array.from({ length: count }, (_, index) => line(`prompt number ${index}`, `category-${index % 10}`, 'medium')).join('\n');
    const path = await fixture(body);
    const loaded = await loadPrompts(path);
    expect(loaded.records).toHaveLength(count);
    expect(loaded.records[count - 1]!.user_prompt).toBe(`prompt number ${count - 1}`);
    expect(loaded.lines[count - 1]).toBe(count);
  });
});

describe('readTextLines', () => {
  it('splits lines and multi-byte characters correctly across tiny chunks', async () => {
    const text = '\uFEFFprémière ligne\r\nzweite Zeile 🐱\n\nlast without newline';
    const path = await fixture(text);
    const lines = [];
    for await (const entry of readTextLines(path, { chunkBytes: 3 })) lines.push(entry);
    expect(lines).toEqual([
      { line: 1, text: 'prémière ligne' },
      { line: 2, text: 'zweite Zeile 🐱' },
      { line: 3, text: '' },
      { line: 4, text: 'last without newline' },
    ]);
  });

  it('yields nothing for an empty file', async () => {
    const path = await fixture('');
    const lines = [];
    for await (const entry of readTextLines(path)) lines.push(entry);
    expect(lines).toEqual([]);
  });
});
