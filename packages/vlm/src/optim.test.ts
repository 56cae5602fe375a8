import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm, learningRateAt } from './optim.js';
import { useTestBackend } from './__fixtures__/test-utils.js';

beforeAll(async () => {
  await useTestBackend();
});

describe('AdamW', () => {
  it('matches the PyTorch AdamW update rule over three steps, with decay masked per variable', async () => {
    const w = tf.variable(tf.tensor1d([0.5, -1.5]));
    const b = tf.variable(tf.tensor1d([2]));
    const optimizer = new AdamW([w, b], { weightDecay: 0.1, decay: [true, false], beta1: 0.9, beta2: 0.99, epsilon: 1e-8 });
    const grads = [[[0.1, -0.2], [0.3]], [[-0.4, 0.05], [0.3]], [[0.2, 0.2], [-1]]] as const;
    // Reference in float64.
    const p = [[0.5, -1.5], [2]];
    const m = [[0, 0], [0]];
    const v = [[0, 0], [0]];
    const lr = 0.01;
    grads.forEach((step, t) => {
      optimizer.applyGradients([tf.tensor1d([...step[0]]), tf.tensor1d([...step[1]])], lr);
      for (let k = 0; k < 2; k += 1) {
        for (let i = 0; i < p[k]!.length; i += 1) {
          const g = step[k]![i]!;
          if (k === 0) p[k]![i]! *= 1 - lr * 0.1;
          m[k]![i] = 0.9 * m[k]![i]! + 0.1 * g;
          v[k]![i] = 0.99 * v[k]![i]! + 0.01 * g * g;
          const mh = m[k]![i]! / (1 - 0.9 ** (t + 1));
          const vh = v[k]![i]! / (1 - 0.99 ** (t + 1));
          p[k]![i]! -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
        }
      }
    });
    Array.from(w.dataSync()).forEach((value, i) => expect(value).toBeCloseTo(p[0]![i]!, 6));
    expect(b.dataSync()[0]).toBeCloseTo(p[1]![0]!, 6);
    const state = await optimizer.getState();
    const other = new AdamW([w, b]);
    other.setState(state);
    expect(await other.getState()).toEqual(state);
    optimizer.dispose();
    other.dispose();
    tf.dispose([w, b]);
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by maxNorm / norm only when the norm exceeds it', async () => {
    const { grads, norm } = await clipByGlobalNorm([tf.tensor1d([3]), tf.tensor1d([4])], 1);
    expect(norm).toBeCloseTo(5, 6);
    expect(grads[0]!.dataSync()[0]).toBeCloseTo(0.6, 5);
    expect(grads[1]!.dataSync()[0]).toBeCloseTo(0.8, 5);
    const kept = await clipByGlobalNorm([tf.tensor1d([0.3])], 1);
    expect(kept.grads[0]!.dataSync()[0]).toBeCloseTo(0.3, 6);
  });
});

describe('learningRateAt', () => {
  it('follows transformers get_cosine/linear_schedule_with_warmup', () => {
    const base = { learningRate: 1e-3, warmupSteps: 10, totalSteps: 110 };
    expect(learningRateAt(0, { ...base, schedule: 'cosine' })).toBe(0);
    expect(learningRateAt(5, { ...base, schedule: 'cosine' })).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(10, { ...base, schedule: 'cosine' })).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(60, { ...base, schedule: 'cosine' })).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(110, { ...base, schedule: 'cosine' })).toBeCloseTo(0, 12);
    expect(learningRateAt(35, { ...base, schedule: 'linear' })).toBeCloseTo(7.5e-4, 12);
    expect(learningRateAt(100, { ...base, schedule: 'constant' })).toBe(1e-3);
    expect(learningRateAt(110, { ...base, schedule: 'cosine', minLearningRate: 1e-4 })).toBeCloseTo(1e-4, 12);
  });
});
