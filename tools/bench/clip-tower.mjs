/**
 * CLIP image tower alone: one ONNX Runtime session of `onnx/vision_model.onnx` on the requested
 * execution provider, pixel_values [batch, 3, S, S] of seeded noise, median ms per call, with the
 * output read back to the host (`--keep-on-gpu` leaves image_embeds on the GPU instead, as a caller
 * that feeds another GPU model would). This is the number to hold against PyTorch's 7.6 ms per 64
 * images (../shared/notes/gpu.md); `clip-bench.mjs` of @vlm-grpo/clip-reward adds decoding and
 * preprocessing. On `--device cuda` (ONNX Runtime's CUDA EP: provider installed beside
 * onnxruntime-node, e.g. by tools/device/bundle-cuda-provider.sh's activate-cuda.sh) and `cpu` every
 * output comes back to the host (the Node binding has no GPU output location for CUDA), so
 * `--keep-on-gpu` is WebGPU's only.
 *
 *   node tools/bench/clip-tower.mjs --model <clip folder> [--device webgpu|cuda|cpu] [--batches 1,8,32,64]
 *     [--dtype fp32|fp16] [--repeats 10] [--keep-on-gpu] [--json out.json]
 *
 * With `--dtype fp16` (onnx/vision_model_fp16.onnx) it also runs the fp32 model on the same 8
 * images and reports the accuracy cost: the largest absolute difference and the smallest cosine
 * between the L2-normalised fp16 and fp32 image embeddings.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { median, requireCudaProvider } from './bench-utils.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'webgpu' },
    batches: { type: 'string', default: '1,8,32,64' },
    repeats: { type: 'string', default: '10' },
    'keep-on-gpu': { type: 'boolean', default: false },
    dtype: { type: 'string', default: 'fp32' },
    json: { type: 'string' },
  },
});
if (!values.model) throw new Error('clip-tower: --model <folder with onnx/vision_model.onnx> is required');
const onWebgpu = values.device === 'webgpu';
if (values['keep-on-gpu'] && !onWebgpu) throw new Error(`clip-tower: --keep-on-gpu needs --device webgpu (${values.device} returns every output to the host)`);
await requireCudaProvider(values.device, 'clip-tower');
const ort = (await import('onnxruntime-node')).default;
const config = JSON.parse(readFileSync(join(values.model, 'config.json'), 'utf8'));
const size = config.vision_config?.image_size ?? 224;
const open = (dtype, keepOnGpu) =>
  ort.InferenceSession.create(join(values.model, 'onnx', `vision_model${dtype === 'fp32' ? '' : `_${dtype}`}.onnx`), {
    executionProviders: values.device === 'cpu' ? ['cpu'] : [values.device],
    graphOptimizationLevel: 'all',
    // last_hidden_state is never needed by the reward: on WebGPU keep it on the GPU unread
    ...(onWebgpu ? { preferredOutputLocation: keepOnGpu ? 'gpu-buffer' : { last_hidden_state: 'gpu-buffer' } } : {}),
  });
const session = await open(values.dtype, values['keep-on-gpu']);
function noise(batch) {
  const data = new Float32Array(batch * 3 * size * size);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  return new ort.Tensor('float32', data, [batch, 3, size, size]);
}
function normalisedRows(tensor) {
  const [n, d] = tensor.dims;
  return Array.from({ length: n }, (_, r) => {
    const row = Float64Array.from(tensor.data.subarray(r * d, (r + 1) * d));
    const norm = Math.hypot(...row);
    return row.map((x) => x / norm);
  });
}
let accuracy = null;
if (values.dtype !== 'fp32') {
  const reference = await open('fp32', false);
  const feeds = { pixel_values: noise(8) };
  const a = normalisedRows((await session.run(feeds)).image_embeds);
  const b = normalisedRows((await reference.run(feeds)).image_embeds);
  let maxAbs = 0;
  let minCos = 1;
  a.forEach((row, r) => {
    let cos = 0;
    row.forEach((x, j) => {
      maxAbs = Math.max(maxAbs, Math.abs(x - b[r][j]));
      cos += x * b[r][j];
    });
    minCos = Math.min(minCos, cos);
  });
  accuracy = { maxAbsDiff: maxAbs, minCosine: minCos };
  await reference.release();
  console.log(`${values.dtype} vs fp32 image embeddings (8 images): max |Δ| ${maxAbs.toExponential(2)}, min cosine ${minCos.toFixed(6)}`);
}
const rows = [];
for (const batch of values.batches.split(',').map(Number)) {
  const feeds = { pixel_values: noise(batch) };
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
const result = { model: values.model, device: values.device, dtype: values.dtype, imageSize: size, keepOnGpu: values['keep-on-gpu'], accuracy, rows };
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(`| CLIP image tower ${size}px, ${values.device}, ${values.dtype}${values['keep-on-gpu'] ? ', all outputs on GPU' : onWebgpu ? '' : ', outputs to the host'} | batch | ms / call | images/s |`);
console.log('| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| | ${r.batch} | ${r.ms.toFixed(2)} | ${r.imagesPerSecond.toFixed(0)} |`);
