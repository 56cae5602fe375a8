/**
 * What one tfjs op costs on a backend, apart from its arithmetic: chains of 2,000 tiny element-wise
 * ops (`add` on 16 floats: one GPU kernel each), 2,000 `reshape`s (no kernel: bookkeeping only) and
 * 200 large adds (4M floats: bandwidth-bound), each chain awaited with one read-back at the end;
 * and 20 × (one add + an awaited read-back of its 16 floats), the pattern of a decoding step.
 * The per-op time of the tiny chain is the dispatch overhead that bounds a model of thousands of
 * small ops (GPT-2's training step launches ~4,800).
 *
 *   node tools/bench/dispatch-cost.mjs [--backend webgpu|wasm|cpu] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@vlm-grpo/vlm';

import { timeMs } from './bench-utils.mjs';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'webgpu' }, json: { type: 'string' } } });
const report = await initBackend(values.backend);
console.error(`# ${report.reason}`);
// tfjs-webgpu runs ops on small host-resident tensors on the CPU: force every op onto the GPU
if (report.backend === 'webgpu') tf.env().set('WEBGPU_CPU_FORWARD', false);

async function chain(count, make, step) {
  return timeMs(async () => {
    const start = make();
    let x = start;
    for (let i = 0; i < count; i++) {
      const next = step(x);
      if (x !== start) x.dispose();
      x = next;
    }
    await x.data();
    x.dispose();
    start.dispose();
  }, 3);
}

const one = tf.scalar(1e-3);
const tinyMs = await chain(2000, () => tf.zeros([16]), (x) => tf.add(x, one));
const reshapeMs = await chain(2000, () => tf.zeros([4, 4]), (x) => tf.reshape(x, x.shape[0] === 4 ? [2, 8] : [4, 4]));
const largeMs = await chain(200, () => tf.zeros([4 << 20]), (x) => tf.add(x, one));
// one GPU op and an awaited read-back of its 16 floats, as a decoding step reads its logits
const seed = tf.zeros([16]);
const readbackMs = await timeMs(async () => {
  for (let i = 0; i < 20; i++) {
    const y = tf.add(seed, one);
    await y.data();
    y.dispose();
  }
}, 3);
const result = {
  backend: report.backend,
  tinyOpUs: (tinyMs * 1000) / 2000,
  reshapeUs: (reshapeMs * 1000) / 2000,
  largeAddUs: (largeMs * 1000) / 200,
  largeAddGBps: (200 * 2 * 4 * (4 << 20)) / (largeMs / 1000) / 1e9,
  readbackUs: (readbackMs * 1000) / 20,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(`| ${result.backend} | µs per op |`);
console.log('| --- | ---: |');
console.log(`| add, 16 floats (one kernel) | ${result.tinyOpUs.toFixed(1)} |`);
console.log(`| reshape (no kernel) | ${result.reshapeUs.toFixed(1)} |`);
console.log(`| add, 4M floats | ${result.largeAddUs.toFixed(1)} (${result.largeAddGBps.toFixed(0)} GB/s read + write) |`);
console.log(`| add + awaited read-back of 16 floats | ${result.readbackUs.toFixed(1)} |`);
