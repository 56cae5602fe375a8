/**
 * The diffusion UNet on ONNX Runtime's WebGPU EP (or, with `--device cuda|cpu`, on the CUDA or CPU
 * EP), for an Optimum/diffusers ONNX model folder (fp16 or fp32: the dtype is read from the UNet's
 * inputs):
 *
 * 1. UNet step alone at each `--batches` size (CFG batch: 2 = one image with guidance), median ms
 *    per call over `--repeats`, output left on the GPU (`preferredOutputLocation: 'gpu-buffer'`,
 *    as the GPU-resident loop runs it), for each `--layouts` value of the WebGPU EP's
 *    `preferredLayout` (NCHW, NHWC) and each `--attention` form: `plain` as exported, `fused`
 *    through @vlm-grpo/sd's rewritten copy with attention fused into MultiHeadAttention (the
 *    pipeline's default on WebGPU).
 * 2. A whole `--steps`-step image (one prompt, guidance 7.5 → UNet batch 2, PNDM unless
 *    `--scheduler`): the host loop (latents to the host and back every step) against the
 *    GPU-resident loop (`gpuResidentLatents`, the default), seconds per image and per step, and the
 *    largest pixel difference between the two images.
 * 3. With `--profile`: ONNX Runtime's profiler (`enableProfiling`) over `--profile-steps` UNet
 *    calls at the largest batch; per operator type, the summed node time of the trace (on WebGPU
 *    the time ORT spends in each node's dispatch, not the GPU kernel time) and the top nodes.
 * 4. With `--vae`: the VAE decoder alone (`vae_decoder/model.onnx`) at each `--vae-batches` size,
 *    latents `--vae-latent`² (default 64: 512² images with SD's VAE), median ms per call over
 *    `--repeats` after one warm-up; output left on the GPU on WebGPU, on the host elsewhere.
 *
 * On `cuda` and `cpu` there is no `gpu-buffer` output location and no `preferredLayout`: every
 * output comes back to the host after each call (the Node binding takes only `deviceId` for CUDA,
 * no IO binding), `--layouts` is ignored, and part 2 runs the host loop only (GPU-resident latents
 * are a WebGPU feature). The CUDA provider must be installed beside onnxruntime-node (on the GPU
 * machine: tools/device/bundle-cuda-provider.sh's activate-cuda.sh).
 *
 *   node tools/bench/unet-webgpu.mjs --model <sd folder> [--batches 2,8] [--steps 50] [--repeats 5]
 *     [--layouts NCHW,NHWC] [--attention plain,fused] [--latent N (default: the UNet config's sample_size)] [--device webgpu|cuda|cpu] [--scheduler pndm] [--profile] [--profile-steps 3]
 *     [--vae] [--vae-batches 1,8] [--vae-latent 64] [--skip-image] [--json out.json]
 *
 * Needs the built packages (`npx nx run @vlm-grpo/sd:build`). Prints one table per part, last.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { median, requireCudaProvider, timeMs } from './bench-utils.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'webgpu' },
    batches: { type: 'string', default: '2,8' },
    steps: { type: 'string', default: '50' },
    repeats: { type: 'string', default: '5' },
    layouts: { type: 'string', default: 'NCHW,NHWC' },
    attention: { type: 'string', default: 'plain,fused' },
    latent: { type: 'string' },
    scheduler: { type: 'string', default: 'pndm' },
    profile: { type: 'boolean', default: false },
    'profile-steps': { type: 'string', default: '3' },
    vae: { type: 'boolean', default: false },
    'vae-batches': { type: 'string', default: '1,8' },
    'vae-latent': { type: 'string', default: '64' },
    'skip-image': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
if (!values.model) throw new Error('unet-webgpu: --model <folder with unet/model.onnx> is required');
/** WebGPU keeps outputs on the GPU and has layouts; the CUDA and CPU EPs return every output to the host. */
const onWebgpu = values.device === 'webgpu';
await requireCudaProvider(values.device, 'unet-webgpu');
const ort = (await import('onnxruntime-node')).default;
const { StableDiffusionPipeline, contribOpsToLower, float32ToFloat16Bits, portableOnnxModel } = await import('@vlm-grpo/sd');
/** The file ONNX Runtime loads for `file`: its portable copy where the graph has fused ops this device's EP lacks (see @vlm-grpo/sd's README). */
const loadable = (file, fuseAttention = false) => portableOnnxModel(file, { lower: contribOpsToLower(values.device), fuseAttention })?.path ?? file;
const unetPath = join(values.model, 'unet', 'model.onnx');
// latent size, channels and text width from unet/config.json when the export has it (SD 1.5: 64, 4, 768)
let unetConfig = {};
try {
  unetConfig = JSON.parse(readFileSync(join(values.model, 'unet', 'config.json'), 'utf8'));
} catch {
  // Optimum exports without config.json: SD 1.5 sizes
}
const latentSize = values.latent ? Number(values.latent) : (unetConfig.sample_size ?? 64);
const latentChannels = unetConfig.in_channels ?? 4;
const textWidth = unetConfig.cross_attention_dim ?? 768;
const results = { model: values.model, device: values.device, date: new Date().toISOString(), unet: [], image: [], vae: [], profile: undefined };
/** The layouts to time: WebGPU's `preferredLayout` values, or one pass (`-`) on other providers. */
const layouts = onWebgpu ? values.layouts.split(',') : ['-'];

/** Execution providers of a session: WebGPU with `layout`, else the device's provider alone. */
function provider(layout) {
  return onWebgpu ? [{ name: values.device, preferredLayout: layout }] : [values.device];
}

/** Deterministic values in [−1, 1). */
function fill(n, salt) {
  const out = new Float32Array(n);
  let s = 12345 + salt;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** A tensor for a declared input at batch `batch` (symbolic dims: batch, the config's latent size, 77 tokens). */
function inputFor(meta, batch) {
  const dims = meta.shape.map((d, axis) => {
    if (typeof d === 'number' && d > 0) return d;
    if (axis === 0) return batch;
    if (meta.name === 'encoder_hidden_states') return axis === 1 ? 77 : textWidth;
    if (meta.name === 'sample') return [batch, latentChannels, latentSize, latentSize][axis];
    return 1;
  });
  if (meta.name === 'timestep') {
    const count = dims.reduce((a, b) => a * b, 1);
    if (meta.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(count).fill(500n), dims);
    if (meta.type === 'float16') return new ort.Tensor('float16', new Uint16Array(count).fill(float32ToFloat16Bits(500)), dims);
    return new ort.Tensor(meta.type, new (meta.type === 'float64' ? Float64Array : Float32Array)(count).fill(500), dims);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const data = fill(count, meta.name.length);
  if (meta.type === 'float16') return new ort.Tensor('float16', Uint16Array.from(data, float32ToFloat16Bits), dims);
  return new ort.Tensor('float32', data, dims);
}

/**
 * A session of the UNet at `layout`, run once and then `--repeats` times on inputs at `batch`:
 * the session, the median ms per call and the sample's dtype.
 */
async function unetStep(layout, batch, extra = {}, fuse = false) {
  const session = await ort.InferenceSession.create(loadable(unetPath, fuse), {
    executionProviders: provider(layout),
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(onWebgpu ? { preferredOutputLocation: 'gpu-buffer' } : {}),
    ...extra,
  });
  const feeds = Object.fromEntries(session.inputMetadata.map((m) => [m.name, inputFor(m, batch)]));
  const run = async () => {
    const out = await session.run(feeds);
    for (const t of Object.values(out)) t.dispose();
  };
  await run();
  const times = [];
  for (let i = 0; i < Number(values.repeats); i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return { session, ms: median(times), dtype: session.inputMetadata.find((m) => m.name === 'sample')?.type };
}

// 1. UNet step alone, per layout and attention form (as exported, or fused into MultiHeadAttention)
const attentionForms = values.attention.split(',').filter(Boolean);
for (const attention of attentionForms) {
  if (attention !== 'plain' && attention !== 'fused') throw new Error(`unet-webgpu: --attention takes plain and/or fused, not ${attention}`);
}
for (const attention of attentionForms) {
  for (const layout of layouts) {
    for (const batch of values.batches.split(',').map(Number)) {
      try {
        const { session, ms, dtype } = await unetStep(layout, batch, {}, attention === 'fused');
        await session.release();
        results.unet.push({ layout, attention, batch, dtype, ms });
      } catch (error) {
        results.unet.push({ layout, attention, batch, error: String(error.message ?? error).split('\n')[0] });
      }
    }
  }
}

// 2. a whole image: host loop vs GPU-resident latents (WebGPU), the host loop alone elsewhere
const steps = Number(values.steps);
let reference;
for (const gpuResidentLatents of values['skip-image'] ? [] : onWebgpu ? [false, true] : [false]) {
  const pipe = await StableDiffusionPipeline.fromPretrained(values.model, { device: values.device, fallbackToCpu: false, gpuResidentLatents });
  const options = { steps, guidanceScale: 7.5, seed: 7, scheduler: values.scheduler, outputType: 'float32', validation: 'off' };
  await pipe.generateImage('a photo of a cat', { ...options, steps: 2 }); // warm-up: sessions, shaders
  const image = await pipe.generateImage('a photo of a cat', options);
  const t = image.timings;
  let maxDiff = 0;
  if (reference) for (let i = 0; i < image.float32.length; i++) maxDiff = Math.max(maxDiff, Math.abs(image.float32[i] - reference[i]));
  else reference = image.float32;
  results.image.push({
    loop: gpuResidentLatents ? 'gpu-resident' : 'host',
    steps: t.stepSeconds.length,
    totalS: t.totalSeconds,
    loopS: t.stepSeconds.reduce((a, b) => a + b, 0),
    vaeS: t.vaeSeconds,
    maxAbsVsHost: gpuResidentLatents ? maxDiff : 0,
  });
  await pipe.dispose();
}

// 3. ORT profile of the UNet at the largest batch
if (values.profile) {
  const batch = Math.max(...values.batches.split(',').map(Number));
  const prefix = join(tmpdir(), `unet-profile-${process.pid}`);
  const { session } = await unetStep(layouts[0], batch, { enableProfiling: true, profileFilePrefix: prefix }, attentionForms.at(-1) === 'fused');
  session.endProfiling();
  await session.release();
  const dir = tmpdir();
  const file = readdirSync(dir).find((f) => f.startsWith(`unet-profile-${process.pid}`) && f.endsWith('.json'));
  if (file) {
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const byOp = new Map();
    const byNode = new Map();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const op = e.args?.op_name ?? '?';
      byOp.set(op, (byOp.get(op) ?? { us: 0, count: 0 }));
      byOp.get(op).us += e.dur;
      byOp.get(op).count += 1;
      byNode.set(e.name, (byNode.get(e.name) ?? 0) + e.dur);
    }
    const calls = Number(values.repeats) + 1;
    results.profile = {
      batch,
      file: join(dir, file),
      byOp: [...byOp].map(([op, v]) => ({ op, msPerCall: v.us / 1000 / calls, nodesPerCall: v.count / calls })).sort((a, b) => b.msPerCall - a.msPerCall),
      topNodes: [...byNode].map(([node, us]) => ({ node: node.replace(/_kernel_time$/u, ''), msPerCall: us / 1000 / calls })).sort((a, b) => b.msPerCall - a.msPerCall).slice(0, 15),
    };
    if (!values.json) rmSync(join(dir, file));
  } else results.profile = { batch, error: `no profile file with prefix ${prefix}` };
}

// 4. the VAE decoder alone
if (values.vae) {
  const vaePath = join(values.model, 'vae_decoder', 'model.onnx');
  const latent = Number(values['vae-latent']);
  const session = await ort.InferenceSession.create(loadable(vaePath), {
    executionProviders: provider(layouts[0]),
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(onWebgpu ? { preferredOutputLocation: 'gpu-buffer' } : {}),
  });
  const meta = session.inputMetadata[0];
  for (const batch of values['vae-batches'].split(',').map(Number)) {
    const dims = [batch, latentChannels, latent, latent];
    const data = fill(dims.reduce((a, b) => a * b, 1), 3);
    const feeds = { [meta.name]: meta.type === 'float16' ? new ort.Tensor('float16', Uint16Array.from(data, float32ToFloat16Bits), dims) : new ort.Tensor('float32', data, dims) };
    let image = '?';
    try {
      const first = await session.run(feeds); // the image side from the output (the VAE's scale factor)
      image = Object.values(first)[0].dims.at(-1);
      for (const t of Object.values(first)) t.dispose();
      const ms = await timeMs(async () => {
        const out = await session.run(feeds);
        for (const t of Object.values(out)) t.dispose();
      }, Number(values.repeats));
      results.vae.push({ batch, latent, image, dtype: meta.type, ms, output: onWebgpu ? 'gpu-buffer' : 'host' });
    } catch (error) {
      results.vae.push({ batch, latent, image, dtype: meta.type, error: String(error.message ?? error).split('\n')[0] });
    }
  }
  await session.release();
}

if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
const pad = (v, n) => String(v).padEnd(n);
console.log(`\nUNet step (${values.device}, ${unetPath}), median of ${values.repeats}${onWebgpu ? ', output left on the GPU' : ', outputs copied to the host'}`);
console.log(`${pad('layout', 8)}${pad('attention', 11)}${pad('batch', 7)}${pad('dtype', 9)}ms`);
for (const r of results.unet) console.log(`${pad(r.layout, 8)}${pad(r.attention, 11)}${pad(r.batch, 7)}${pad(r.dtype ?? '-', 9)}${r.error ?? r.ms.toFixed(1)}`);
if (results.image.length > 0) {
  console.log(`\n${steps}-step image, guidance 7.5 (UNet batch 2), ${values.scheduler}`);
  console.log(`${pad('loop', 14)}${pad('total s', 10)}${pad('loop s', 10)}${pad('ms/step', 10)}${pad('VAE s', 8)}max |Δ| vs host`);
  for (const r of results.image) {
    console.log(`${pad(r.loop, 14)}${pad(r.totalS.toFixed(2), 10)}${pad(r.loopS.toFixed(2), 10)}${pad(((r.loopS / r.steps) * 1000).toFixed(1), 10)}${pad(r.vaeS.toFixed(2), 8)}${r.maxAbsVsHost.toExponential(2)}`);
  }
}
if (results.vae.length > 0) {
  console.log(`\nVAE decode (${values.device}), median of ${values.repeats}`);
  console.log(`${pad('batch', 7)}${pad('image', 8)}${pad('dtype', 9)}${pad('output', 12)}ms`);
  for (const r of results.vae) console.log(`${pad(r.batch, 7)}${pad(`${r.image}²`, 8)}${pad(r.dtype, 9)}${pad(r.output ?? '-', 12)}${r.error ?? r.ms.toFixed(1)}`);
}
if (results.profile?.byOp) {
  console.log(`\nORT profile, UNet batch ${results.profile.batch}: node time per call by operator (dispatch side on WebGPU)`);
  for (const r of results.profile.byOp.slice(0, 15)) console.log(`${pad(r.op, 28)}${pad(r.msPerCall.toFixed(2), 10)}${r.nodesPerCall} nodes`);
} else if (results.profile) console.log(`\nprofile: ${results.profile.error}`);
