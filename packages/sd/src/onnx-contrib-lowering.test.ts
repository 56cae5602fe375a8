/**
 * The lowering of ONNX Runtime's CUDA-only diffusion ops, run on the CPU EP (which has no kernel for
 * any of the originals) against float64 references written from the ops' definitions
 * (docs/ContribOperators.md and the CUDA kernels: NhwcConv's OHWI weights, GroupNorm's NHWC layout
 * and SiLU, BiasSplitGelu's left·gelu(right)), and packed MultiHeadAttention against ONNX
 * Runtime's own unpacked MultiHeadAttention kernel. Also: the file rewrite keeps every other byte,
 * and the original graphs really fail on the CPU EP (so each test needs the lowering).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromFloat16, toFloat16 } from './numeric.js';
import { contribOpsToLower, lowerContribOps, LOWERABLE_CONTRIB_OPS } from './onnx-contrib-lowering.js';
import { applyRewrites, readOnnxGraph, writeOnnxGraph } from './onnx-graph-file.js';
import { ONNX_ELEMENT_TYPES, onnxModelBytes } from './onnx-proto.js';
import type { OnnxGraph, OnnxInitializer, OnnxNode } from './onnx-proto.js';
import { PhiloxGenerator } from './random.js';

const ort = await import('onnxruntime-node');
const dir = mkdtempSync(join(tmpdir(), 'vlm-grpo-lowering-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const F32 = ONNX_ELEMENT_TYPES.float32;
const F16 = ONNX_ELEMENT_TYPES.float16;
let fileCount = 0;

const randn = (seed: number, n: number, scale = 1): Float32Array => {
  const values = new PhiloxGenerator(seed).randn(n);
  return values.map((v) => v * scale);
};
const f32Init = (name: string, dims: number[], data: Float32Array): OnnxInitializer => ({ name, elemType: F32, dims, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() });

/** Write a model with `nodes` (com.microsoft domain declared), return its path. */
function model(nodes: OnnxNode[], inputs: OnnxGraph['inputs'], outputs: OnnxGraph['outputs'], initializers: OnnxInitializer[] = []): string {
  const path = join(dir, `m${fileCount++}.onnx`);
  writeFileSync(path, onnxModelBytes({ name: 'g', nodes, inputs, outputs, initializers }, 17, { 'com.microsoft': 1 }));
  return path;
}

/** Lower `path` for the CPU EP and return the lowered file. */
function lowered(path: string): string {
  const graph = readOnnxGraph(path);
  const target = `${path}.lowered.onnx`;
  writeOnnxGraph(graph, applyRewrites(graph, [lowerContribOps(graph, contribOpsToLower('cpu'))]), target);
  return target;
}

async function run(path: string, feeds: Record<string, { data: Float32Array; dims: number[]; half?: boolean }>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([name, f]) => [name, f.half ? new ort.Tensor('float16', toFloat16(f.data), f.dims) : new ort.Tensor('float32', f.data, f.dims)]),
    );
    const results = await session.run(tensors);
    return Object.fromEntries(
      Object.entries(results).map(([name, t]) => [name, t.type === 'float16' ? fromFloat16(t.data as Uint16Array) : (t.data as Float32Array)]),
    );
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** erf to ~1e-12 (series below 3, continued fraction tail: adequate for 1e-6 checks). */
function erf(x: number): number {
  const sign = Math.sign(x);
  const a = Math.abs(x);
  if (a > 5) return sign;
  let sum = 0;
  let term = a;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-a * a) / (n + 1);
    if (Math.abs(term) < 1e-17) break;
  }
  return (sign * 2 * sum) / Math.sqrt(Math.PI);
}

/** GroupNorm of NHWC [n, h, w, c] in float64 (optionally SiLU). */
function groupNormRef(x: ArrayLike<number>, [n, h, w, c]: number[], gamma: ArrayLike<number>, beta: ArrayLike<number>, groups: number, eps: number, silu: boolean): Float64Array {
  const out = new Float64Array(x.length);
  const cg = c / groups;
  for (let b = 0; b < n!; b++) {
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      let count = 0;
      const at = (p: number, ch: number): number => ((b * h! * w! + p) * c!) + ch;
      for (let p = 0; p < h! * w!; p++) {
        for (let k = 0; k < cg; k++) {
          sum += x[at(p, g * cg + k)]!;
          count++;
        }
      }
      const mean = sum / count;
      let v = 0;
      for (let p = 0; p < h! * w!; p++) for (let k = 0; k < cg; k++) v += (x[at(p, g * cg + k)]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / count + eps);
      for (let p = 0; p < h! * w!; p++) {
        for (let k = 0; k < cg; k++) {
          const ch = g * cg + k;
          let y = (x[at(p, ch)]! - mean) * inv * gamma[ch]! + beta[ch]!;
          if (silu) y = y / (1 + Math.exp(-y));
          out[at(p, ch)] = y;
        }
      }
    }
  }
  return out;
}

describe('onnx-graph-file', () => {
  it('reads nodes, types and opsets, and rewrites a file byte for byte when nothing changes', () => {
    const path = model(
      [
        { op: 'Add', inputs: ['x', 'b'], outputs: ['y'] },
        { op: 'GroupNorm', domain: 'com.microsoft', inputs: ['y', 'b', 'b'], outputs: ['z'], attributes: { groups: 2, activation: 1, axis: -1 }, intListAttributes: { axes: [-1, 2, -7] } },
      ],
      [{ name: 'x', elemType: F16, dims: [1, 2, 2, 4] }],
      [{ name: 'z', elemType: F16, dims: [1, 2, 2, 4] }],
      [f32Init('b', [4], new Float32Array([1, 2, 3, 4]))],
    );
    const graph = readOnnxGraph(path);
    expect(graph.nodes.map((n) => `${n.domain}:${n.opType}`)).toEqual([':Add', 'com.microsoft:GroupNorm']);
    expect(graph.nodes[1]!.attributes.get('groups')?.i).toBe(2);
    expect(graph.nodes[1]!.attributes.get('axis')?.i).toBe(-1); // int64 two's complement, 10-byte varint
    expect(graph.nodes[1]!.attributes.get('axes')?.ints).toEqual([-1, 2, -7]);
    expect(graph.declaredTypes.get('x')).toBe(F16);
    expect(graph.initializers.get('b')).toEqual({ name: 'b', elemType: F32, dims: [4], external: false });
    expect(graph.opsets).toEqual(new Map([['', 17], ['com.microsoft', 1]]));
    const copy = `${path}.copy.onnx`;
    writeOnnxGraph(graph, { nodes: graph.nodes.map((n) => n.raw), initializers: [] }, copy);
    expect(Buffer.compare(readFileSync(copy), readFileSync(path))).toBe(0);
  });

  it('names the file when it is not an ONNX model', () => {
    const path = join(dir, 'not-a-model.onnx');
    writeFileSync(path, 'hello world, not protobuf');
    expect(() => readOnnxGraph(path)).toThrow(/not-a-model\.onnx/u);
  });
});

describe('lowering CUDA-only contrib ops for the CPU EP', () => {
  it('the CPU EP has no kernel for the original ops (the reason for the lowering)', async () => {
    const path = model(
      [{ op: 'BiasAdd', domain: 'com.microsoft', inputs: ['x', 'b', 'x'], outputs: ['y'] }],
      [{ name: 'x', elemType: F32, dims: [1, 2, 4] }],
      [{ name: 'y', elemType: F32, dims: [1, 2, 4] }],
      [f32Init('b', [4], new Float32Array(4))],
    );
    await expect(run(path, { x: { data: new Float32Array(8), dims: [1, 2, 4] } })).rejects.toThrow(/BiasAdd/u);
  });

  it('NhwcConv (OHWI weights, bias, pads, strides, groups) equals a float64 convolution', async () => {
    const [n, h, w, c, m, k, group] = [2, 5, 6, 4, 6, 3, 2];
    const x = randn(1, n * h * w * c);
    const weight = randn(2, m * k * k * (c / group), 0.3); // [M, kH, kW, C/g]
    const bias = randn(3, m);
    const path = model(
      [{ op: 'NhwcConv', domain: 'com.microsoft', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { group }, intListAttributes: { kernel_shape: [k, k], pads: [1, 0, 1, 1], strides: [2, 1] } }],
      [{ name: 'x', elemType: F32, dims: [n, h, w, c] }],
      [{ name: 'y', elemType: F32, dims: ['n', 'oh', 'ow', m] }],
      [f32Init('w', [m, k, k, c / group], weight), f32Init('b', [m], bias)],
    );
    const out = (await run(lowered(path), { x: { data: x, dims: [n, h, w, c] } })).y!;
    // Reference: NHWC input, OHWI weights, pads [top, left, bottom, right], strides [2, 1].
    const oh = Math.floor((h + 1 + 1 - k) / 2) + 1;
    const ow = Math.floor((w + 0 + 1 - k) / 1) + 1;
    const ref = new Float64Array(n * oh * ow * m);
    const cpg = c / group;
    const mpg = m / group;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let o = 0; o < m; o++) {
            const g = Math.floor(o / mpg);
            let acc = bias[o]!;
            for (let ki = 0; ki < k; ki++)
              for (let kj = 0; kj < k; kj++) {
                const yi = i * 2 - 1 + ki;
                const xj = j * 1 - 0 + kj;
                if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                for (let ci = 0; ci < cpg; ci++) acc += x[((b * h + yi) * w + xj) * c + g * cpg + ci]! * weight[((o * k + ki) * k + kj) * cpg + ci]!;
              }
            ref[((b * oh + i) * ow + j) * m + o] = acc;
          }
    expect(maxAbsDiff(out, ref)).toBeLessThan(1e-5);
  });

  it('GroupNorm (NHWC, SiLU) equals float64, in float32 and in float16 with float32 γ/β', async () => {
    const dims = [2, 3, 4, 8];
    const size = dims.reduce((a, b) => a * b, 1);
    const x = randn(4, size, 3).map((v, i) => v + (i % 8)); // per-channel offsets
    const gamma = randn(5, 8);
    const beta = randn(6, 8);
    for (const [elemType, tol] of [[F32, 2e-5], [F16, 8e-3]] as const) {
      const path = model(
        [{ op: 'GroupNorm', domain: 'com.microsoft', inputs: ['x', 'gamma', 'beta'], outputs: ['y'], attributes: { groups: 4, activation: 1, channels_last: 1 }, floatAttributes: { epsilon: 1e-5 } }],
        [{ name: 'x', elemType, dims }],
        [{ name: 'y', elemType, dims }],
        [f32Init('gamma', [8], gamma), f32Init('beta', [8], beta)],
      );
      const xs = elemType === F16 ? fromFloat16(toFloat16(x)) : x;
      const out = (await run(lowered(path), { x: { data: x, dims, half: elemType === F16 } })).y!;
      expect(maxAbsDiff(out, groupNormRef(xs, dims, gamma, beta, 4, 1e-5, true))).toBeLessThan(tol);
    }
  });

  it('GroupNorm with channels_last = 0 and no activation', async () => {
    const [n, c, h, w] = [1, 6, 3, 2];
    const x = randn(7, n * c * h * w);
    const gamma = randn(8, c);
    const beta = randn(9, c);
    const path = model(
      [{ op: 'GroupNorm', domain: 'com.microsoft', inputs: ['x', 'gamma', 'beta'], outputs: ['y'], attributes: { groups: 3, activation: 0, channels_last: 0 }, floatAttributes: { epsilon: 1e-6 } }],
      [{ name: 'x', elemType: F32, dims: [n, c, h, w] }],
      [{ name: 'y', elemType: F32, dims: [n, c, h, w] }],
      [f32Init('gamma', [c], gamma), f32Init('beta', [c], beta)],
    );
    const out = (await run(lowered(path), { x: { data: x, dims: [n, c, h, w] } })).y!;
    // Reference in NHWC: transpose in and out.
    const nhwc = new Float32Array(x.length);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) nhwc[p * c + ch] = x[ch * h * w + p]!;
    const refNhwc = groupNormRef(nhwc, [n, h, w, c], gamma, beta, 3, 1e-6, false);
    const ref = new Float64Array(x.length);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) ref[ch * h * w + p] = refNhwc[p * c + ch]!;
    expect(maxAbsDiff(out, ref)).toBeLessThan(2e-5);
  });

  it('SkipGroupNorm: skip [N, C] broadcast, bias, and the sum output', async () => {
    const dims = [2, 2, 3, 4];
    const size = dims.reduce((a, b) => a * b, 1);
    const x = randn(10, size);
    const skip = randn(11, 2 * 4);
    const bias = randn(12, 4);
    const gamma = randn(13, 4);
    const beta = randn(14, 4);
    const path = model(
      [{ op: 'SkipGroupNorm', domain: 'com.microsoft', inputs: ['x', 'gamma', 'beta', 'skip', 'bias'], outputs: ['y', 's'], attributes: { groups: 2, activation: 0 }, floatAttributes: { epsilon: 1e-5 } }],
      [{ name: 'x', elemType: F32, dims }, { name: 'skip', elemType: F32, dims: [2, 4] }],
      [{ name: 'y', elemType: F32, dims }, { name: 's', elemType: F32, dims }],
      [f32Init('gamma', [4], gamma), f32Init('beta', [4], beta), f32Init('bias', [4], bias)],
    );
    const out = await run(lowered(path), { x: { data: x, dims }, skip: { data: skip, dims: [2, 4] } });
    const sum = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const b = Math.floor(i / (size / 2));
      const ch = i % 4;
      sum[i] = x[i]! + skip[b * 4 + ch]! + bias[ch]!;
    }
    expect(maxAbsDiff(out.s!, sum)).toBeLessThan(1e-6);
    expect(maxAbsDiff(out.y!, groupNormRef(sum, dims, gamma, beta, 2, 1e-5, false))).toBeLessThan(2e-5);
  });

  it('SkipGroupNorm with a full-size skip and no bias', async () => {
    const dims = [1, 2, 2, 4];
    const x = randn(15, 16);
    const skip = randn(16, 16);
    const gamma = randn(17, 4);
    const beta = randn(18, 4);
    const path = model(
      [{ op: 'SkipGroupNorm', domain: 'com.microsoft', inputs: ['x', 'gamma', 'beta', 'skip'], outputs: ['y'], attributes: { groups: 2, activation: 1 } }],
      [{ name: 'x', elemType: F32, dims }, { name: 'skip', elemType: F32, dims }],
      [{ name: 'y', elemType: F32, dims }],
      [f32Init('gamma', [4], gamma), f32Init('beta', [4], beta)],
    );
    const out = await run(lowered(path), { x: { data: x, dims }, skip: { data: skip, dims } });
    const sum = x.map((v, i) => v + skip[i]!);
    expect(maxAbsDiff(out.y!, groupNormRef(sum, dims, gamma, beta, 2, 1e-5, true))).toBeLessThan(2e-5);
  });

  it('BiasAdd and BiasSplitGelu (float32 and float16)', async () => {
    const x = randn(19, 2 * 3 * 8);
    const bias = randn(20, 8);
    const skip = randn(21, 2 * 3 * 4);
    for (const [elemType, tol] of [[F32, 1e-6], [F16, 1e-2]] as const) {
      const path = model(
        [
          { op: 'BiasSplitGelu', domain: 'com.microsoft', inputs: ['x', 'bias'], outputs: ['g'] },
          { op: 'BiasAdd', domain: 'com.microsoft', inputs: ['g', 'bias4', 'skip'], outputs: ['y'] },
        ],
        [{ name: 'x', elemType, dims: [2, 3, 8] }, { name: 'skip', elemType, dims: [2, 3, 4] }],
        [{ name: 'g', elemType, dims: [2, 3, 4] }, { name: 'y', elemType, dims: [2, 3, 4] }],
        elemType === F32
          ? [f32Init('bias', [8], bias), f32Init('bias4', [4], bias.subarray(0, 4))]
          : [
              { name: 'bias', elemType: F16, dims: [8], raw: new Uint8Array(toFloat16(bias).buffer) },
              { name: 'bias4', elemType: F16, dims: [4], raw: new Uint8Array(toFloat16(bias.subarray(0, 4)).buffer) },
            ],
      );
      const out = await run(lowered(path), { x: { data: x, dims: [2, 3, 8], half: elemType === F16 }, skip: { data: skip, dims: [2, 3, 4], half: elemType === F16 } });
      const g = new Float64Array(2 * 3 * 4);
      const y = new Float64Array(2 * 3 * 4);
      for (let r = 0; r < 6; r++)
        for (let d = 0; d < 4; d++) {
          const left = x[r * 8 + d]! + bias[d]!;
          const right = x[r * 8 + 4 + d]! + bias[4 + d]!;
          g[r * 4 + d] = left * 0.5 * right * (1 + erf(right / Math.SQRT2));
          y[r * 4 + d] = g[r * 4 + d]! + bias[d]! + skip[r * 4 + d]!;
        }
      expect(maxAbsDiff(out.g!, g)).toBeLessThan(tol);
      expect(maxAbsDiff(out.y!, y)).toBeLessThan(tol);
    }
  });

  it('packed-QKV and packed-KV MultiHeadAttention equal ONNX Runtime’s unpacked kernel', async () => {
    const [b, s, l, heads, dh] = [2, 5, 7, 3, 4];
    const d = heads * dh;
    const packedQkv = randn(22, b * s * heads * 3 * dh); // [B, S, Nh, 3, Dh]
    const query = randn(23, b * s * d);
    const packedKv = randn(24, b * l * heads * 2 * dh); // [B, L, Nh, 2, Dh]
    const unpack = (packed: Float32Array, seq: number, parts: number, index: number): Float32Array => {
      const out = new Float32Array(b * seq * d);
      for (let i = 0; i < b * seq; i++) for (let hh = 0; hh < heads; hh++) for (let k = 0; k < dh; k++) out[i * d + hh * dh + k] = packed[((i * heads + hh) * parts + index) * dh + k]!;
      return out;
    };
    const packedPath = model(
      [
        { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['qkv'], outputs: ['self'], attributes: { num_heads: heads } },
        { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'kv'], outputs: ['cross'], attributes: { num_heads: heads } },
      ],
      [
        { name: 'qkv', elemType: F32, dims: [b, s, heads, 3, dh] },
        { name: 'q', elemType: F32, dims: [b, s, d] },
        { name: 'kv', elemType: F32, dims: [b, l, heads, 2, dh] },
      ],
      [{ name: 'self', elemType: F32, dims: [b, s, d] }, { name: 'cross', elemType: F32, dims: [b, s, d] }],
    );
    const unpackedPath = model(
      [
        { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q1', 'k1', 'v1'], outputs: ['self'], attributes: { num_heads: heads } },
        { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k2', 'v2'], outputs: ['cross'], attributes: { num_heads: heads } },
      ],
      ['q1', 'k1', 'v1', 'q', 'k2', 'v2'].map((name) => ({ name, elemType: F32, dims: [b, name.endsWith('2') ? l : s, d] })),
      [{ name: 'self', elemType: F32, dims: [b, s, d] }, { name: 'cross', elemType: F32, dims: [b, s, d] }],
    );
    await expect(run(packedPath, { qkv: { data: packedQkv, dims: [b, s, heads, 3, dh] }, q: { data: query, dims: [b, s, d] }, kv: { data: packedKv, dims: [b, l, heads, 2, dh] } })).rejects.toThrow(/[Pp]acked/u);
    const got = await run(lowered(packedPath), { qkv: { data: packedQkv, dims: [b, s, heads, 3, dh] }, q: { data: query, dims: [b, s, d] }, kv: { data: packedKv, dims: [b, l, heads, 2, dh] } });
    const want = await run(unpackedPath, {
      q1: { data: unpack(packedQkv, s, 3, 0), dims: [b, s, d] },
      k1: { data: unpack(packedQkv, s, 3, 1), dims: [b, s, d] },
      v1: { data: unpack(packedQkv, s, 3, 2), dims: [b, s, d] },
      q: { data: query, dims: [b, s, d] },
      k2: { data: unpack(packedKv, l, 2, 0), dims: [b, l, d] },
      v2: { data: unpack(packedKv, l, 2, 1), dims: [b, l, d] },
    });
    expect(maxAbsDiff(got.self!, want.self!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(got.cross!, want.cross!)).toBeLessThan(1e-6);
  });

  it('two nodes with the same name get distinct tensor names', async () => {
    const x = randn(40, 8);
    const bias = randn(41, 4);
    const path = model(
      [
        { op: 'BiasAdd', domain: 'com.microsoft', inputs: ['x', 'bias', 'x'], outputs: ['a'] },
        { op: 'BiasAdd', domain: 'com.microsoft', inputs: ['a', 'bias', 'x'], outputs: ['y'] },
      ].map((n) => ({ ...n, name: 'same' })),
      [{ name: 'x', elemType: F32, dims: [1, 2, 4] }],
      [{ name: 'y', elemType: F32, dims: [1, 2, 4] }],
      [f32Init('bias', [4], bias)],
    );
    const out = (await run(lowered(path), { x: { data: x, dims: [1, 2, 4] } })).y!;
    expect(maxAbsDiff(out, x.map((v, i) => 3 * v + 2 * bias[i % 4]!))).toBeLessThan(1e-5);
  });

  it('lowers every op it lists and keeps unpacked attention and other contrib ops', () => {
    const path = model(
      [
        { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['x', 'x', 'x'], outputs: ['a'], attributes: { num_heads: 1 } },
        { op: 'FastGelu', domain: 'com.microsoft', inputs: ['a'], outputs: ['y'] },
      ],
      [{ name: 'x', elemType: F32, dims: [1, 2, 4] }],
      [{ name: 'y', elemType: F32, dims: [1, 2, 4] }],
    );
    const graph = readOnnxGraph(path);
    const rewrite = lowerContribOps(graph, new Set(LOWERABLE_CONTRIB_OPS));
    expect(rewrite.counts.size).toBe(0);
    expect(applyRewrites(graph, [rewrite]).nodes).toEqual(graph.nodes.map((n) => n.raw));
    expect(contribOpsToLower('cuda').size).toBe(0);
    expect([...contribOpsToLower('webgpu')].sort()).toEqual(['GroupNorm', 'MultiHeadAttention', 'NhwcConv', 'SkipGroupNorm']);
  });
});

describe('OnnxModel.load with a graph of CUDA-only fused ops', () => {
  const dims = [1, 2, 3, 8];
  const gamma = randn(30, 8);
  const beta = randn(31, 8);
  const x = randn(32, 48);
  const write = (path: string, groups: number): void => {
    writeFileSync(
      path,
      onnxModelBytes(
        {
          name: 'g',
          nodes: [{ op: 'GroupNorm', domain: 'com.microsoft', inputs: ['x', 'gamma', 'beta'], outputs: ['y'], attributes: { groups, activation: 1 } }],
          inputs: [{ name: 'x', elemType: F16, dims }],
          outputs: [{ name: 'y', elemType: F16, dims }],
          initializers: [f32Init('gamma', [8], gamma), f32Init('beta', [8], beta)],
        },
        17,
        { 'com.microsoft': 1 },
      ),
    );
  };

  it('runs on the CPU through a portable copy written once beside the model, and rebuilds it when the model changes', async () => {
    const { OnnxModel } = await import('./onnx-session.js');
    const folder = mkdtempSync(join(dir, 'unet-'));
    const path = join(folder, 'model.onnx');
    write(path, 4);
    const logs: string[] = [];
    const settings = { device: 'cpu' as const, logger: (_level: 'info' | 'warn', message: string) => logs.push(message) };
    const unet = await OnnxModel.load(path, 'unet', settings);
    const out = (await unet.run({ x: unet.floatTensor('x', x, dims) })).get('y')!;
    await unet.dispose();
    expect(maxAbsDiff(out.data, groupNormRef(fromFloat16(toFloat16(x)), dims, gamma, beta, 4, 1e-5, true))).toBeLessThan(8e-3);
    const copies = readdirSync(folder).filter((f) => f.startsWith('model.portable-'));
    expect(copies).toHaveLength(1);
    expect(logs).toEqual([expect.stringMatching(/^unet: .*model\.onnx: ONNX Runtime's CUDA-only fused operators \(GroupNorm ×1\) rewritten as standard ONNX for cpu; running the copy written in [\d.]+ s to .*model\.portable-/u)]);
    const copyTime = statSync(join(folder, copies[0]!)).mtimeMs;

    await (await OnnxModel.load(path, 'unet', settings)).dispose();
    expect(readdirSync(folder).filter((f) => f.startsWith('model.portable-'))).toEqual(copies);
    expect(statSync(join(folder, copies[0]!)).mtimeMs).toBe(copyTime);
    expect(logs).toHaveLength(1); // announced once

    write(path, 2); // a changed model (2 groups) gets its own copy
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const changed = await OnnxModel.load(path, 'unet', settings);
    const out2 = (await changed.run({ x: changed.floatTensor('x', x, dims) })).get('y')!;
    await changed.dispose();
    expect(maxAbsDiff(out2.data, groupNormRef(fromFloat16(toFloat16(x)), dims, gamma, beta, 2, 1e-5, true))).toBeLessThan(8e-3);
    expect(readdirSync(folder).filter((f) => f.startsWith('model.portable-'))).toHaveLength(2);
  });

  it('adds an op the execution provider reports missing and retries; other errors pass through', async () => {
    const { createPortableSession } = await import('./portable-onnx-model.js');
    const folder = mkdtempSync(join(dir, 'retry-'));
    const path = join(folder, 'model.onnx');
    write(path, 4);
    writeFileSync(
      path,
      onnxModelBytes(
        {
          name: 'g',
          nodes: [{ op: 'BiasAdd', domain: 'com.microsoft', inputs: ['x', 'bias', 'x'], outputs: ['y'] }],
          inputs: [{ name: 'x', elemType: F32, dims: [1, 2, 8] }],
          outputs: [{ name: 'y', elemType: F32, dims: [1, 2, 8] }],
          initializers: [f32Init('bias', [8], gamma)],
        },
        17,
        { 'com.microsoft': 1 },
      ),
    );
    const created: string[] = [];
    const fake = async (file: string): Promise<string> => {
      created.push(file);
      if (file === path) throw new Error("Exception during initialization: … Provider type for BiasAdd node with name 'ba' is not set.");
      return 'session';
    };
    const logs: string[] = [];
    expect(await createPortableSession(fake, path, 'unet', 'webgpu', (_l, m) => logs.push(m))).toBe('session');
    // webgpu keeps BiasAdd up front (ONNX Runtime 1.30 has a kernel): the original is tried first.
    expect(created[0]).toBe(path);
    expect(created[1]).toMatch(/model\.portable-.*\.onnx$/u);
    expect(logs[0]).toMatch(/\(BiasAdd ×1\) rewritten as standard ONNX for webgpu/u);
    const failing = async (): Promise<string> => Promise.reject(new Error('Could not find an implementation for Foo(1) node'));
    await expect(createPortableSession(failing, path, 'unet', 'webgpu', () => {})).rejects.toThrow(/Foo/u);
  });
});
