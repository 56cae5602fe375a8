import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { EXAMPLE_RECORDS, EXAMPLE_REWRITES, EXAMPLE_SCORES } from './__fixtures__/example.js';
import { FakeEnhancer, FakeRenderer, FakeScorer } from './__fixtures__/fakes.js';
import { EvalError, InvalidResultError } from './errors.js';
import { loadValidationHistory, readMetricsFile } from './history.js';
import { parseValidationResult, validationResultFileName, type ValidationResult } from './validation-result.js';
import { Validator } from './validator.js';

let result: ValidationResult;
beforeAll(async () => {
  const validator = new Validator({ enhancer: new FakeEnhancer(EXAMPLE_REWRITES), renderer: new FakeRenderer(), scorer: new FakeScorer(EXAMPLE_SCORES) });
  result = (await validator.validate(EXAMPLE_RECORDS, { iteration: 7 })).result;
});

describe('parseValidationResult', () => {
  it('accepts a result after a JSON round trip', () => {
    expect(parseValidationResult(JSON.parse(JSON.stringify(result)))).toEqual(result);
  });

  it('names every bad key and refuses other versions and unknown keys', () => {
    const bad = structuredClone(result) as unknown as Record<string, unknown>;
    bad.version = 2;
    bad.extra = true;
    (bad.metrics as Record<string, unknown>).win_rate = 'high';
    let caught: unknown;
    try {
      parseValidationResult(bad, 'run/validation_iter_7.json');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidResultError);
    expect(EvalError.isInstance(caught)).toBe(true);
    const error = caught as InvalidResultError;
    expect(error.code).toBe('EVAL_INVALID_RESULT');
    expect(error.message).toContain('run/validation_iter_7.json');
    expect(error.issues.some((issue) => issue.startsWith('version:'))).toBe(true);
    expect(error.issues.some((issue) => issue.startsWith('metrics.win_rate:'))).toBe(true);
    expect(error.issues.some((issue) => issue.includes('extra'))).toBe(true);
  });

  it('rejects NaN rewards (JSON cannot hold them)', () => {
    const bad = structuredClone(result);
    const item = bad.items[0]!;
    if (item.status === 'ok') item.improvement = Number.NaN;
    expect(() => parseValidationResult(bad)).toThrow(/items\.0\.improvement/u);
  });

  it('names the file of an iteration', () => {
    expect(validationResultFileName(12)).toBe('validation_iter_12.json');
    expect(() => validationResultFileName(1.5)).toThrow(EvalError);
  });
});

describe('loadValidationHistory / readMetricsFile', () => {
  it('loads results sorted by iteration, skipping or rejecting invalid files', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'vlm-grpo-eval-history-'));
    try {
      expect(await loadValidationHistory(join(directory, 'missing'))).toEqual([]);
      await writeFile(join(directory, 'validation_iter_10.json'), JSON.stringify({ ...result, iteration: 10 }));
      await writeFile(join(directory, 'validation_iter_2.json'), JSON.stringify({ ...result, iteration: 2 }));
      await writeFile(join(directory, 'validation_iter_x.json'), 'ignored: name does not match');
      expect((await loadValidationHistory(directory)).map((entry) => entry.iteration)).toEqual([2, 10]);
      await writeFile(join(directory, 'validation_iter_5.json'), '{"torn":');
      await expect(loadValidationHistory(directory)).rejects.toMatchObject({ code: 'EVAL_INVALID_RESULT', message: expect.stringContaining('validation_iter_5.json') });
      const skipped: string[] = [];
      const loaded = await loadValidationHistory(directory, { skipInvalid: true, onInvalid: (file) => skipped.push(file) });
      expect(loaded.map((entry) => entry.iteration)).toEqual([2, 10]);
      expect(skipped).toEqual([join(directory, 'validation_iter_5.json')]);
      await writeFile(join(directory, 'metrics.jsonl'), '{"step":1,"loss":2}\n{"step":2,');
      expect(await readMetricsFile(join(directory, 'metrics.jsonl'))).toEqual({ records: [{ step: 1, loss: 2 }], invalidLines: [2] });
      expect(await readMetricsFile(join(directory, 'nothing.jsonl'))).toEqual({ records: [], invalidLines: [] });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
