import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm, globalGradNorm } from './optim.js';
import { tfTensors, useTestBackend } from './__fixtures__/test-utils.js';

beforeAll(async () => {
  await useTestBackend();
});

describe('AdamW (golden, torch.optim.AdamW update rule)', () => {
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
      optimizer.step([tf.tensor1d([...step[0]]), tf.tensor1d([...step[1]])], lr);
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

  it('applies decoupled weight decay to matrices only by default and bias-corrected Adam steps', () => {
    // lr 0.1, λ 0.01, β (0.9, 0.999), ε 1e-8; gradients 0.5 then −1 for every entry.
    // matrix entry p = 1 (decayed):
    //   t=1: p ← 1·(1 − 0.001) = 0.999; m = 0.05; v = 0.00025; step = 0.1/0.1 = 1;
    //        denom = √0.00025/√0.001 + 1e-8 = 0.5 + 1e-8 → p = 0.999 − 0.05/0.5 = 0.899000002
    //   t=2: p ← 0.899000002·0.999; m = −0.055; v = 0.00124975; bc1 = 0.19; bc2 = 0.001999
    //        → p = 0.93471135424
    // bias entry p = 1 (rank 1, not decayed): 0.900000002 then 0.93661035424
    const w = tf.variable(tf.ones([2, 2]));
    const b = tf.variable(tf.ones([2]));
    const opt = new AdamW([w, b], { weightDecay: 0.01 });
    opt.step([tf.fill([2, 2], 0.5), tf.fill([2], 0.5)], 0.1);
    expect(w.dataSync()[0]).toBeCloseTo(0.899000002, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.900000002, 6);
    opt.step([tf.fill([2, 2], -1), tf.fill([2], -1)], 0.1);
    expect(w.dataSync()[3]).toBeCloseTo(0.9347113542, 6);
    expect(b.dataSync()[1]).toBeCloseTo(0.9366103542, 6);
    expect(opt.stepCount).toBe(2);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('exports and restores its moments exactly (sync and async reads agree), and rejects states that do not fit', async () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const opt = new AdamW([a]);
    opt.step([tf.tensor1d([0.3, -0.2])], 0.01);
    const state = opt.getStateSync();
    expect(await opt.getState()).toEqual(state);
    expect(state.m[0]!.shape).toEqual([2]);
    const b = tf.variable(tf.tensor1d(Array.from(a.dataSync())));
    const opt2 = new AdamW([b]);
    opt2.setState(state);
    opt.step([tf.tensor1d([0.1, 0.4])], 0.01);
    opt2.step([tf.tensor1d([0.1, 0.4])], 0.01);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(opt2.stepCount).toBe(2);
    expect(() => opt2.setState({ step: 1, m: [], v: [] })).toThrowError(/expected 1 tensors, got 0/);
    const wrong = { step: 1, m: [{ shape: [3], data: new Float32Array(3) }], v: state.v };
    expect(() => opt2.setState(wrong)).toThrowError(/m\[0\]: expected shape \[2\], got \[3\]/);
    expect(() => new AdamW([a], { decay: [true, false] })).toThrowError(/2 flags for 1 variables/);
    expect(() => opt.step([], 0.01)).toThrowError(/expected 1 gradients, got 0/);
    for (const x of [opt, opt2]) x.dispose();
    tf.dispose([a, b]);
  });

  it('creates and frees its moments without leaking tensors', () => {
    const a = tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2]));
    const before = tf.memory().numTensors;
    const opt = new AdamW([a], { weightDecay: 0.1 });
    expect(tf.memory().numTensors).toBe(before + 2);
    const g = tf.ones([2, 2]);
    opt.step([g], 0.01);
    opt.dispose();
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });
});

describe('clipByGlobalNorm (clip_grad_norm_)', () => {
  it('scales by maxNorm / (norm + 1e-6) only when the norm is larger, and reports the norm before clipping', async () => {
    // ‖[3, 4]‖ = 5 → coef 1 / 5.000001 → [0.59999988, 0.79999984]
    const clipped = await clipByGlobalNorm([tf.tensor1d([3]), tf.tensor1d([4])], 1);
    const [grads, norm] = [tfTensors(clipped.grads), clipped.norm];
    expect(norm).toBeCloseTo(5, 6);
    expect(grads[0]!.dataSync()[0]).toBeCloseTo(0.59999988, 6);
    expect(grads[1]!.dataSync()[0]).toBeCloseTo(0.79999984, 6);
    const small = await clipByGlobalNorm([tf.tensor1d([0.3, 0.4])], 1);
    expect(Array.from(tfTensors(small.grads)[0]!.dataSync())).toEqual([0.30000001192092896, 0.4000000059604645]);
    const kept = await clipByGlobalNorm([tf.tensor1d([0.3])], 1);
    expect(tfTensors(kept.grads)[0]!.dataSync()[0]).toBeCloseTo(0.3, 6);
  });

  it('maxNorm undefined, 0 or Infinity disables clipping and still reports the norm', async () => {
    for (const maxNorm of [undefined, 0, Number.POSITIVE_INFINITY]) {
      const input = [tf.tensor1d([3]), tf.tensor1d([4])];
      const clipped = await clipByGlobalNorm(input, maxNorm);
      const [grads, norm] = [tfTensors(clipped.grads), clipped.norm];
      expect(norm).toBeCloseTo(5, 6);
      expect(grads.map((g) => g.dataSync()[0])).toEqual([3, 4]);
      expect(grads[0]).not.toBe(input[0]);
      tf.dispose([...input, ...grads]);
    }
  });
});


describe('chunked updates (bounded temporary memory, same bits)', () => {
  /** Deterministic pseudo-random values in [-1, 1). */
  const values = (n: number, seed: number): Float32Array => {
    const out = new Float32Array(n);
    let x = seed >>> 0;
    for (let i = 0; i < n; i += 1) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      out[i] = x / 2 ** 31 - 1;
    }
    return out;
  };
  // Sizes chosen so that chunks of 4096 split variables and mix decayed and other values.
  const shapes = [[200, 150], [50], [12000], [90, 160], [7]];

  it('gives the same parameters and moments, bit for bit, for any chunk size', async () => {
    const run = async (chunkElements: number): Promise<{ params: number[][]; state: Awaited<ReturnType<AdamW['getState']>> }> => {
      const vars = shapes.map((shape, i) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b, 1), 10 + i), shape)));
      const optimizer = new AdamW(vars, { weightDecay: 0.1, chunkElements });
      for (let step = 0; step < 3; step += 1) {
        const grads = shapes.map((shape, i) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), 100 * step + i), shape));
        optimizer.step(grads, 0.01);
        tf.dispose(grads);
      }
      const result = { params: vars.map((v) => Array.from(v.dataSync())), state: await optimizer.getState() };
      optimizer.dispose();
      tf.dispose(vars);
      return result;
    };
    const whole = await run(Number.POSITIVE_INFINITY);
    for (const chunk of [4096, 5000, 12288]) {
      const chunked = await run(chunk);
      expect(chunked.params).toEqual(whole.params);
      expect(chunked.state).toEqual(whole.state);
    }
    // A state saved with one chunk size restores into another.
    const vars = shapes.map((shape) => tf.variable(tf.zeros(shape)));
    const other = new AdamW(vars, { chunkElements: 4096 });
    other.setState(whole.state);
    expect(await other.getState()).toEqual(whole.state);
    other.dispose();
    tf.dispose(vars);
  });

  it('keeps the step\'s temporary memory near a few chunks instead of many copies of the model', async () => {
    // 24 matrices of 100 × 100 with their biases: no variable is large next to the model.
    const layers = Array.from({ length: 48 }, (_, i) => (i % 2 === 0 ? [100, 100] : [100]));
    const total = layers.reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
    const peakOf = async (chunkElements: number): Promise<number> => {
      const vars = layers.map((shape, i) => tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b, 1), i), shape)));
      const grads = layers.map((shape, i) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), 50 + i), shape));
      const optimizer = new AdamW(vars, { weightDecay: 0.1, chunkElements });
      const before = tf.memory().numBytes;
      // peakBytes counts every live tensor: what the step added at its peak is peak − before.
      const info = await tf.profile(() => optimizer.step(grads, 0.01));
      optimizer.dispose();
      tf.dispose([...vars, ...grads]);
      return info.peakBytes - before;
    };
    const model = total * 4; // bytes of one fp32 copy of the parameters (≈ 970 KB here)
    const whole = await peakOf(Number.POSITIVE_INFINITY);
    const chunked = await peakOf(4096);
    // Measured: one flat update adds ≈ 19 model-sized temporaries (18.4 MB); chunks of 4096 add
    // ≈ 510 KB whatever the model size (the same with half as many layers): a few chunk-sized
    // temporaries and the updated values of a variable before it is assigned.
    expect(whole).toBeGreaterThan(8 * model);
    expect(chunked).toBeLessThan(0.6 * model);
  });

  it('computes the gradient norm with the same bits for any chunk size, and can free the inputs as it clips', async () => {
    const grads = shapes.map((shape, i) => tf.tensor(values(shape.reduce((a, b) => a * b, 1), 7 + i), shape));
    const whole = await globalGradNorm(grads, Number.POSITIVE_INFINITY);
    let reference = 0;
    for (const g of grads) for (const x of g.dataSync()) reference += x * x;
    expect(whole).toBeCloseTo(Math.sqrt(reference), 3);
    for (const chunk of [4096, 5000, 12288]) expect(await globalGradNorm(grads, chunk)).toBe(whole);
    const kept = await clipByGlobalNorm(grads, 1);
    const consumed = await clipByGlobalNorm(grads, 1, { consumeInputs: true });
    expect(consumed.norm).toBe(kept.norm);
    expect(tfTensors(consumed.grads).map((g) => Array.from(g.dataSync()))).toEqual(tfTensors(kept.grads).map((g) => Array.from(g.dataSync())));
    expect(grads.every((g) => g.isDisposed)).toBe(true);
    tf.dispose([...tfTensors(kept.grads), ...tfTensors(consumed.grads)]);
  });
});
