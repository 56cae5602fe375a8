/**
 * CLIP image tower alone: one ONNX Runtime session of `onnx/vision_model.onnx` on the requested
 * execution provider, pixel_values [batch, 3, S, S] of seeded noise, median ms per call, with the
 * output read back to the host (`--keep-on-gpu` leaves image_embeds on the GPU instead, as a caller
 * that feeds another GPU model would). This is the number to hold against PyTorch's 7.6 ms per 64
 * images (../shared/notes/gpu.md); `clip-bench.mjs` of @vlm-grpo/clip-reward adds decoding and
 * preprocessing.
 *
 *   node tools/bench/clip-tower.mjs --model <clip folder> [--device webgpu|cpu] [--batches 1,8,32,64]
 *     [--repeats 10] [--json out.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { median } from './bench-utils.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'webgpu' },
    batches: { type: 'string', default: '1,8,32,64' },
    repeats: { type: 'string', default: '10' },
    'keep-on-gpu': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
if (!values.model) throw new Error('clip-tower: --model <folder with onnx/vision_model.onnx> is required');
const ort = (await import('onnxruntime-node')).default;
const config = JSON.parse(readFileSync(join(values.model, 'config.json'), 'utf8'));
const size = config.vision_config?.image_size ?? 224;
const session = await ort.InferenceSession.create(join(values.model, 'onnx', 'vision_model.onnx'), {
  executionProviders: values.device === 'cpu' ? ['cpu'] : [values.device],
  graphOptimizationLevel: 'all',
  ...(values['keep-on-gpu'] ? { preferredOutputLocation: 'gpu-buffer' } : {}),
});
const rows = [];
for (const batch of values.batches.split(',').map(Number)) {
  const data = new Float32Array(batch * 3 * size * size);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  const feeds = { pixel_values: new ort.Tensor('float32', data, [batch, 3, size, size]) };
  const run = async () => {
    const out = await session.run(feeds);
    for (const tensor of Object.values(out)) {
      if (tensor.location === 'gpu-buffer') tensor.dispose();
    }
  };
  for (let i = 0; i < 3; i++) await run();
  const times = [];
  for (let i = 0; i < Number(values.repeats); i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  const ms = median(times);
  rows.push({ batch, ms, imagesPerSecond: (batch * 1000) / ms });
}
await session.release();
const result = { model: values.model, device: values.device, imageSize: size, keepOnGpu: values['keep-on-gpu'], rows };
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(`| CLIP image tower ${size}px, ${values.device}${values['keep-on-gpu'] ? ', output on GPU' : ''} | batch | ms / call | images/s |`);
console.log('| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| | ${r.batch} | ${r.ms.toFixed(2)} | ${r.imagesPerSecond.toFixed(0)} |`);
