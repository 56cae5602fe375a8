import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/grpo entry point', () => {
  it('names its package and exports the public API', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/grpo');
    for (const name of [
      'GRPOTrainer',
      'encodeTrainerState',
      'decodeTrainerState',
      'grpoLoss',
      'computeAdvantages',
      'resolveGrpoConfig',
      'GrpoError',
      'learningRateAt',
      'warmupStepsFromRatio',
      'missingEngineMethods',
    ]) {
      expect(entry).toHaveProperty(name);
    }
  });

  it('depends on no ML framework or language-model package at run time', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const runtime = [...Object.keys(pkg['dependencies'] ?? {}), ...Object.keys(pkg['peerDependencies'] ?? {})];
    expect(runtime.filter((name) => /tensorflow|@vlm-grpo\/vlm|transformers|onnxruntime/u.test(name))).toEqual([]);
  });
});
