import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmError } from '../errors.js';
import { FIXTURES, useTestBackend } from '../__fixtures__/test-utils.js';
import { VLMWrapper } from '../vlm-wrapper.js';
import { parseSftArgs, readSftPairs, runSftCli } from './sft-cli.js';

let scratch: string;
beforeAll(async () => {
  await useTestBackend();
  scratch = await mkdtemp(join(tmpdir(), 'vlm-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('vlm-sft command', () => {
  it('merges defaults ← config file ← flags and rejects unknown keys', async () => {
    const config = join(scratch, 'settings.json');
    await writeFile(config, JSON.stringify({ model: 'm', data: 'd.jsonl', output: 'o', lr: 0.001, epochs: 3 }));
    const parsed = await parseSftArgs(['--config', config, '--epochs', '5', '--grad-accum', '2']);
    expect(parsed).toMatchObject({ model: 'm', lr: 0.001, epochs: 5, gradAccum: 2, batchSize: 8, schedule: 'cosine' });
    await writeFile(config, JSON.stringify({ model: 'm', data: 'd', output: 'o', learningRate: 1 }));
    await expect(parseSftArgs(['--config', config])).rejects.toThrow(/learningRate|Unrecognized key/u);
    await expect(parseSftArgs(['--model', 'm'])).rejects.toThrow(/data/u);
    await expect(parseSftArgs(['--bogus', '1'])).rejects.toThrow(/bogus/u);
  });

  it('reads both line formats and lists bad lines', async () => {
    const file = join(scratch, 'pairs.jsonl');
    await writeFile(file, '{"prompt":"a cat","completion":"a fluffy cat"}\n\n{"user_prompt":"a dog","category":"animals","difficulty":"easy","reference":"a happy dog"}\n');
    expect(await readSftPairs(file)).toEqual([
      { prompt: 'a cat', completion: 'a fluffy cat' },
      { prompt: 'a dog', completion: 'a happy dog' },
    ]);
    await writeFile(file, '{"prompt":"a cat"}\nnot json\n');
    const error = await readSftPairs(file).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.message).toMatch(/2 invalid line\(s\):\n.*pairs\.jsonl:1: .*\n.*pairs\.jsonl:2: bad JSON/su);
  });

  it('trains, checkpoints and writes a loadable final model', async () => {
    const data = join(scratch, 'train.jsonl');
    await writeFile(data, ['a cat|a cat on a sofa, soft light', 'a dog|a dog in a field, golden hour'].map((line) => {
      const [prompt, completion] = line.split('|');
      return JSON.stringify({ prompt, completion });
    }).join('\n'));
    const output = join(scratch, 'out');
    const lines: string[] = [];
    const code = await runSftCli(
      ['--model', join(FIXTURES, 'tiny-gpt2'), '--data', data, '--output', output, '--backend', 'wasm', '--max-steps', '3', '--batch-size', '2', '--lr', '1e-3', '--save-steps', '2', '--log-every', '1'],
      (line) => lines.push(line),
    );
    expect(code).toBe(0);
    const summary = JSON.parse(lines[lines.length - 1]!);
    expect(summary).toMatchObject({ steps: 3, pairs: 2 });
    expect(lines.filter((line) => line.startsWith('[sft] step'))).toHaveLength(3);
    expect((await readdir(output)).sort()).toEqual(['checkpoint-2', 'checkpoint-3', 'final']);
    const reloaded = await VLMWrapper.fromPretrained(join(output, 'final'), { backend: null });
    expect(reloaded.promptFormat).toBe('plain');
    reloaded.dispose();
    expect(await runSftCli(['--model', 'x'], () => undefined)).toBe(2);
  });
});
