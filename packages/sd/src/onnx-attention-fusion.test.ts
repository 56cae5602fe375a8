/**
 * Attention fusion on real exports: the tiny SD 1.5 replica (diffusers UNet through
 * `torch.onnx.export`, weights as external data), the tiny SD-Turbo replica (float16, linear
 * projections, two head counts) and the repository's tiny SD UNet and VAE. Each fused copy must
 * fuse every attention of the graph and give the original's output on the CPU EP (same inputs;
 * float rounding only). Patterns that must not fuse (a custom scale, a second use of the scores)
 * are left alone.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fromFloat16, toFloat16 } from './numeric.js';
import { ATTENTION_FUSION_LABEL, fuseAttention } from './onnx-attention-fusion.js';
import { applyRewrites, readOnnxGraph, writeOnnxGraph } from './onnx-graph-file.js';
import { encodeTensor, ONNX_ELEMENT_TYPES, onnxModelBytes } from './onnx-proto.js';
import type { OnnxNode, OnnxNodeSpec } from './onnx-proto.js';
import { PhiloxGenerator } from './random.js';

const ort = await import('onnxruntime-node');
const dir = mkdtempSync(join(tmpdir(), 'vlm-grpo-attention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const repo = fileURLToPath(new URL('../../../', import.meta.url));

type Feeds = Record<string, InstanceType<typeof ort.Tensor>>;

/** Inputs for every declared input of `session` (symbolic dims from `sizes`), seeded. */
function feedsFor(session: Awaited<ReturnType<typeof ort.InferenceSession.create>>, sizes: Record<string, number>): Feeds {
  const feeds: Feeds = {};
  let seed = 1;
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) continue;
    const dims = meta.shape.map((d) => (typeof d === 'number' ? d : sizes[d] ?? 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const values = new PhiloxGenerator(seed++).randn(n);
    if (meta.type === 'float16') feeds[meta.name] = new ort.Tensor('float16', toFloat16(values), dims);
    else if (meta.type === 'float32') feeds[meta.name] = new ort.Tensor('float32', values, dims);
    else if (meta.type === 'int64') feeds[meta.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => 981n), dims);
    else if (meta.type === 'int32') feeds[meta.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => 981), dims);
    else throw new Error(`unexpected input type ${meta.type}`);
  }
  return feeds;
}

async function runFile(path: string, sizes: Record<string, number>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const out = Object.values(await session.run(feedsFor(session, sizes)))[0]!;
    return out.type === 'float16' ? fromFloat16(out.data as Uint16Array) : (out.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Fuse a copy of `folder/file` (the folder is copied so external data stays beside it). */
function fusedCopy(folder: string, file: string): { original: string; fused: string; count: number; softmax: number } {
  const copy = mkdtempSync(join(dir, 'm-'));
  cpSync(folder, copy, { recursive: true });
  const original = join(copy, file);
  const graph = readOnnxGraph(original);
  const rewrite = fuseAttention(graph);
  const fused = join(copy, 'fused.onnx');
  writeOnnxGraph(graph, applyRewrites(graph, [rewrite]), fused);
  return { original, fused, count: rewrite.counts.get(ATTENTION_FUSION_LABEL) ?? 0, softmax: graph.nodes.filter((n) => n.opType === 'Softmax').length };
}

function relativeMaxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('attention fusion on real exports (CPU EP)', () => {
  const cases: { label: string; folder: string; file: string; sizes: Record<string, number>; tol: number; sqrtPerAttention?: number }[] = [
    { label: 'SD 1.5 replica UNet (external data)', folder: 'tools/replicas/fixtures/stable-diffusion-v1-5-onnx/unet', file: 'model.onnx', sizes: { batch_size: 2, height: 8, width: 8, sequence_length: 77, steps: 2 }, tol: 1e-5 },
    { label: 'SD-Turbo replica UNet (float16)', folder: 'tools/replicas/fixtures/sd-turbo/unet', file: 'model.onnx', sizes: { batch_size: 1, height: 8, width: 8, sequence_length: 77, steps: 1 }, tol: 5e-3 },
    { label: 'tiny SD UNet', folder: 'data/models/tiny-sd/unet', file: 'model.onnx', sizes: { batch_size: 2, height: 8, width: 8, sequence_length: 77, steps: 2 }, tol: 1e-5 },
    { label: 'tiny SD VAE decoder', folder: 'data/models/tiny-sd/vae_decoder', file: 'model.onnx', sizes: { batch_size: 1, height: 8, width: 8 }, tol: 1e-5 },
    // world-sd's own exporter (tools/world) scales the scores by a Constant: no Sqrt chain to prune.
    { label: 'world-sd UNet (the default diffusion model)', folder: 'data/models/world-sd/unet', file: 'model.onnx', sizes: { batch_size: 2, height: 16, width: 16, sequence_length: 77, steps: 2 }, tol: 1e-5, sqrtPerAttention: 0 },
  ];
  for (const c of cases) {
    it(`${c.label}: every attention fused, same output`, async () => {
      const { original, fused, count, softmax } = fusedCopy(join(repo, c.folder), c.file);
      expect(softmax).toBeGreaterThan(0);
      expect(count).toBe(softmax);
      const fusedGraph = readOnnxGraph(fused);
      expect(fusedGraph.nodes.filter((n) => n.opType === 'Softmax')).toHaveLength(0);
      expect(fusedGraph.nodes.filter((n) => n.opType === 'MultiHeadAttention' && n.domain === 'com.microsoft')).toHaveLength(count);
      expect(fusedGraph.opsets.get('com.microsoft')).toBe(1);
      // The exporter's scale arithmetic (Shape → … → Sqrt, 3 Sqrt per attention) fed only the fused nodes: pruned.
      const sqrt = (g: ReturnType<typeof readOnnxGraph>): number => g.nodes.filter((n) => n.opType === 'Sqrt').length;
      expect(sqrt(readOnnxGraph(original)) - sqrt(fusedGraph)).toBe((c.sqrtPerAttention ?? 3) * count);
      const [want, got] = [await runFile(original, c.sizes), await runFile(fused, c.sizes)];
      expect(relativeMaxDiff(got, want)).toBeLessThan(c.tol);
    });
  }
});

describe('attention with the scale on the scores (Constant), and graphs that must not fuse', () => {
  const F32 = ONNX_ELEMENT_TYPES.float32;
  const varint = (v: number): number[] => {
    const out: number[] = [];
    for (let x = BigInt.asUintN(64, BigInt(v)); ; x >>= 7n) {
      if (x < 0x80n) return [...out, Number(x)];
      out.push(Number(x & 0x7fn) | 0x80);
    }
  };
  const bytes = (field: number, payload: Uint8Array | number[]): number[] => [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
  /** A Constant node's `value` attribute (AttributeProto { name, t, type TENSOR }). */
  const valueAttribute = (elemType: number, dims: number[], raw: Uint8Array): Uint8Array =>
    Uint8Array.from([...bytes(1, new TextEncoder().encode('value')), ...bytes(5, encodeTensor('value', elemType, dims, raw)), ...varint(20 << 3), 4]);
  const i64 = (values: number[]): Uint8Array => new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
  const constant = (out: string, elemType: number, dims: number[], raw: Uint8Array): OnnxNodeSpec => ({ op: 'Constant', name: out, inputs: [], outputs: [out], rawAttributes: [valueAttribute(elemType, dims, raw)] });

  /** `x` [1, 4, 8] → Reshape [1, -1, 2, 4] → Transpose(`permutation`): the exporter's head split. */
  const split = (x: string, permutation: number[]): OnnxNode[] => [
    { op: 'Reshape', inputs: [x, 'heads_shape'], outputs: [`${x}4`] },
    { op: 'Transpose', inputs: [`${x}4`], outputs: [`${x}T`], intListAttributes: { perm: permutation } },
  ];

  /**
   * The exporter's attention of q, k, v [1, 4, 8] in 2 heads around `scoring` (the nodes from qT and
   * kT to `scores`), written to a file; `extra` nodes are added and their outputs are graph outputs.
   */
  function attentionGraph(label: string, scoring: OnnxNode[], extra: OnnxNode[] = []): string {
    const path = join(dir, `${label}.onnx`);
    writeFileSync(
      path,
      onnxModelBytes({
        name: 'g',
        nodes: [
          constant('heads_shape', ONNX_ELEMENT_TYPES.int64, [4], i64([1, -1, 2, 4])),
          constant('merged_shape', ONNX_ELEMENT_TYPES.int64, [3], i64([1, -1, 8])),
          ...split('q', [0, 2, 1, 3]),
          ...split('k', [0, 2, 3, 1]),
          ...split('v', [0, 2, 1, 3]),
          ...scoring,
          { op: 'Softmax', inputs: ['scores'], outputs: ['p'], attributes: { axis: -1 } },
          { op: 'MatMul', inputs: ['p', 'vT'], outputs: ['o'] },
          { op: 'Transpose', inputs: ['o'], outputs: ['oT'], intListAttributes: { perm: [0, 2, 1, 3] } },
          { op: 'Reshape', inputs: ['oT', 'merged_shape'], outputs: ['y'] },
          ...extra,
        ],
        inputs: ['q', 'k', 'v'].map((name) => ({ name, elemType: F32, dims: [1, 4, 8] })),
        outputs: [{ name: 'y', elemType: F32, dims: [1, 4, 8] }, ...extra.map((n) => ({ name: n.outputs[0]!, elemType: F32, dims: [1, 2, 4, 4] }))],
      }),
    );
    return path;
  }

  const f32 = (name: string, value: number): OnnxNodeSpec => constant(name, F32, [], new Uint8Array(new Float32Array([value]).buffer));

  /** The scores MatMul(qT, kT) scaled by `scaleOp` with 0.5 (Mul) or 2 (Div). */
  const graph = (label: string, scaleOp: 'Mul' | 'Div', extra: OnnxNode[] = []): string =>
    attentionGraph(
      `g-${label}`,
      [
        f32('c', scaleOp === 'Mul' ? 0.5 : 2),
        { op: 'MatMul', inputs: ['qT', 'kT'], outputs: ['raw'] },
        { op: scaleOp, inputs: ['raw', 'c'], outputs: ['scores'] },
      ],
      extra,
    );

  for (const scaleOp of ['Mul', 'Div'] as const) {
    it(`scores ${scaleOp === 'Mul' ? '· 0.5' : '/ 2'}: fused with scale 0.5, same output`, async () => {
      const path = graph(scaleOp, scaleOp);
      const g = readOnnxGraph(path);
      const rewrite = fuseAttention(g);
      expect(rewrite.counts.get(ATTENTION_FUSION_LABEL)).toBe(1);
      const fused = `${path}.fused.onnx`;
      writeOnnxGraph(g, applyRewrites(g, [rewrite]), fused);
      const mha = readOnnxGraph(fused).nodes.find((n) => n.opType === 'MultiHeadAttention')!;
      expect([mha.attributes.get('num_heads')?.i, mha.attributes.get('scale')?.f]).toEqual([2, 0.5]);
      const sizes = {};
      expect(relativeMaxDiff(await runFile(fused, sizes), await runFile(path, sizes))).toBeLessThan(1e-6);
    });
  }

  it('a head-split q also read elsewhere (here a graph output): fused, and its Reshape kept', async () => {
    const path = graph('q4-out', 'Mul', [{ op: 'Identity', inputs: ['q4'], outputs: ['q4_copy'] }]);
    const g = readOnnxGraph(path);
    const rewrite = fuseAttention(g);
    expect(rewrite.counts.get(ATTENTION_FUSION_LABEL)).toBe(1);
    const fused = `${path}.fused.onnx`;
    writeOnnxGraph(g, applyRewrites(g, [rewrite]), fused);
    expect(readOnnxGraph(fused).nodes.filter((n) => n.opType === 'Reshape')).toHaveLength(1); // q's, restored
    const session = await ort.InferenceSession.create(fused, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    expect((await session.run(feedsFor(session, {}))).q4_copy!.dims).toEqual([1, 4, 2, 4]);
    await session.release();
    expect(relativeMaxDiff(await runFile(fused, {}), await runFile(path, {}))).toBeLessThan(1e-6);
  });

  /** The exporter's split scale: √(1/√d) on q and on k, d = q's last dimension (`fromShape`) or the Constant 16. */
  const splitScaleGraph = (label: string, fromShape: boolean): string =>
    attentionGraph(`split-${label}`, [
      f32('one', 1),
      ...(fromShape
        ? [
            { op: 'Shape', inputs: ['qT'], outputs: ['q_shape'] },
            constant('minus_one', ONNX_ELEMENT_TYPES.int64, [1], i64([-1])),
            constant('end', ONNX_ELEMENT_TYPES.int64, [1], i64([2 ** 62])),
            { op: 'Slice', inputs: ['q_shape', 'minus_one', 'end'], outputs: ['d_int'] },
            { op: 'Cast', inputs: ['d_int'], outputs: ['d'], attributes: { to: 1 } },
          ]
        : [f32('d', 16)]),
      { op: 'Sqrt', inputs: ['d'], outputs: ['root_d'] },
      { op: 'Div', inputs: ['one', 'root_d'], outputs: ['inv'] },
      { op: 'Sqrt', inputs: ['inv'], outputs: ['s'] },
      { op: 'Mul', inputs: ['qT', 's'], outputs: ['qs'] },
      { op: 'Mul', inputs: ['kT', 's'], outputs: ['ks'] },
      { op: 'MatMul', inputs: ['qs', 'ks'], outputs: ['scores'] },
    ]);

  it('split scale with d = q’s head size: fused with the default scale, same output', async () => {
    const path = splitScaleGraph('shape', true);
    const g = readOnnxGraph(path);
    const rewrite = fuseAttention(g);
    expect(rewrite.counts.get(ATTENTION_FUSION_LABEL)).toBe(1);
    const fused = `${path}.fused.onnx`;
    writeOnnxGraph(g, applyRewrites(g, [rewrite]), fused);
    expect(readOnnxGraph(fused).nodes.map((n) => n.opType)).toEqual(['MultiHeadAttention']); // all else fed only the fused nodes
    expect(relativeMaxDiff(await runFile(fused, {}), await runFile(path, {}))).toBeLessThan(1e-6);
  });

  it('split scale of another number (√(1/√16) with head size 4): nothing fused', () => {
    expect(fuseAttention(readOnnxGraph(splitScaleGraph('sixteen', false))).counts.size).toBe(0);
  });

  it('scores used a second time: nothing fused', () => {
    expect(fuseAttention(readOnnxGraph(graph('twice', 'Mul', [{ op: 'Identity', inputs: ['scores'], outputs: ['scores_copy'] }]))).counts.size).toBe(0);
  });
});
