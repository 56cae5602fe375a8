import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CausalLM } from './causal-lm.js';
import { FIXTURES, LM_FIXTURES, loadReference, maxAbsDiff, useTestBackend } from './test-utils.js';

beforeAll(async () => {
  await useTestBackend();
});

describe.each(LM_FIXTURES)('%s golden outputs', (name) => {
  const ref = loadReference(name);
  let model: CausalLM;
  beforeAll(async () => {
    model = await CausalLM.fromPretrained(join(FIXTURES, name), { backend: null });
  });

  it('logits match transformers to 1e-4', () => {
    const logits = model.forward(ref.input_ids);
    expect(logits.shape).toEqual([2, 8, 1000]);
    const diff = maxAbsDiff(logits.dataSync(), ref.logits);
    logits.dispose();
    console.log(name, 'logits max diff', diff);
    expect(diff).toBeLessThan(1e-4);
  });

  it('left-padded logits match at unpadded positions to 1e-4', () => {
    const { input_ids, attention_mask } = ref.left_padded;
    const mask = attention_mask.flat();
    const hf = model.forward(input_ids, attention_mask, input_ids.map((row) => row.map((_, j) => j)));
    const ours = model.forward(input_ids, attention_mask);
    const keep = (i: number) => mask[Math.floor(i / 1000)] === 1;
    const dHf = maxAbsDiff(hf.dataSync(), ref.left_padded.logits, keep);
    const dOurs = maxAbsDiff(ours.dataSync(), ref.left_padded.logits, keep);
    console.log(name, 'leftpad diff (arange positions)', dHf, '(mask positions)', dOurs);
    hf.dispose();
    ours.dispose();
  });
});
