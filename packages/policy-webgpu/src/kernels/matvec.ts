/**
 * Few-row matmul (decode projections): Y[n, o] (+)= α · Σ_k X[n, k] · W(k, o) (+ bias[o]) for
 * n < M ≤ {@link MATVEC_MAX_ROWS}, the same product and arguments as matmul.ts's `matmul`
 * (A = X [M, K], B = W viewed as [K, N], C = Y [M, N]; forward only, no backward: generation
 * runs it). A decode step multiplies only N ≤ 32 new rows (one per sequence) by every weight
 * matrix, so its cost is streaming the weights once; matmul.ts's 64×64 tiles would waste
 * (64 − M)/64 of each tile and launch only ⌈N/64⌉ workgroups (12 for a 768-wide projection).
 *
 * Two kernels, chosen by which stride of the W view is 1, so each reads W coalesced along its
 * contiguous axis with vec4 loads (each element read once):
 * - k-contiguous (`b.rowStride == 1`: `nn.Linear` [out, in], Llama/Qwen2 q|k|v, o_proj, gate|up,
 *   down_proj, the vocabulary head [V, C], tied or not): a 128-thread workgroup owns 4 outputs o,
 *   32 lanes per output along k; lane l reads the vec4s k = 4·(l + 32·j) of row o.
 * - o-contiguous (`b.colStride == 1`: GPT-2 `Conv1D` [in, out]: c_attn, attn.c_proj, c_fc,
 *   mlp.c_proj): a 128-thread workgroup owns 8 outputs (2 vec4s of o: 32 contiguous bytes of a
 *   row k, one DRAM sector), 64 lanes along k; lane l reads rows k = l + 64·j.
 * Both: X goes through workgroup memory in tiles of KT columns (all M rows, zero beyond M and K);
 * each lane keeps M fp32 partial sums in registers (a vec4 per row for the 4 outputs of the
 * o-contiguous kernel) and prefetches its W vec4s of the next tile before computing the current
 * one, so the weight loads of consecutive tiles overlap. Then the lanes' partials go to
 * workgroup memory and one thread per (output, row) adds its 32 (64) partials in lane order:
 * deterministic, no atomics, two barriers (the o-contiguous kernel: one round per 8 rows).
 * Workgroups: ⌈N/4⌉ (k-contiguous) or ⌈N/8⌉ (o-contiguous): 192 / 96 for N = 768, 576 / 288 for
 * 2304, 12,565 for a 50,257-token head, enough to fill a GPU; no split-K pass is needed.
 * Departure from a shared-memory tree or subgroupAdd reduction: the partials are summed serially
 * per output (≤ 64 adds, once per workgroup); subgroups are not requested by gpu.ts, and WGSL does
 * not define which invocations form a subgroup, so a lane ↔ output mapping could not rely on it.
 *
 * Shapes: M is rounded up to a power of two M' (1, 2, 4, 8, 16, 32; rows beyond M are zero and
 * not written), compiled in with the tile width, so the accumulators stay in registers (M' floats,
 * or M' vec4s); pipelines are cached per source. Workgroup memory ≤ 16 KiB (the WebGPU default
 * limit): M'·KT ≤ 4,096 (k-contiguous: KT = 128·J, J = min(8, 32/M') vec4s per lane and tile;
 * o-contiguous: KT = 64·J, J = min(8, 64/M') rows per lane and tile). Every workgroup reads all of
 * X (from L2): M/4 (k-contiguous) or M/8 (o-contiguous) times the bytes of W, small at batch 1.
 * W is bound as vec4s when its element offset and leading stride are multiples of 4 and the
 * binding reaches the end of the last (partial) vec4 of the view, widened inside its buffer where
 * needed; otherwise as scalars, four loads per vec4 (any K, N and stride). The last vec4 of a row
 * (k-contiguous, K mod 4 ≠ 0) is masked element by element, so whatever follows the row (the next
 * row, padding, NaN) is never used; in the o-contiguous kernel the extra elements of the last vec4
 * of outputs (N mod 4 ≠ 0) only feed outputs ≥ N, which are not written (masked as well). X may
 * have any strides. Row limit 32: it keeps the accumulators in registers and the X tile in 16 KiB;
 * beyond it matmul.ts's 64-row tiles are at least half used, and it is the better kernel.
 */
import { assertShape } from '../errors.js';
import { grid, type Command, type GpuContext, type Slice } from '../gpu.js';
import type { MatmulArgs } from './matmul.js';

/** The most rows (sequences) {@link matvec} multiplies; more go through matmul.ts. */
export const MATVEC_MAX_ROWS = 32;

/** Threads per workgroup of both kernels. */
const WG = 128;

/** The two weight orientations (see the file header). */
type Orientation = 'k-contiguous' | 'o-contiguous';

/** Compile-time parameters of one kernel. */
interface Variant {
  orientation: Orientation;
  /** Rows rounded up to a power of two. */
  rows: number;
  /** W bound as array<vec4<f32>> (else array<f32>). */
  vec4: boolean;
}

const UNIFORM = /* wgsl */ `
struct P {
  M: u32, N: u32, K: u32, offA: u32,
  sAm: u32, sAk: u32, offW: u32, ldw: u32,
  offC: u32, ldc: u32, accumulate: u32, hasBias: u32,
  offBias: u32, alpha: f32, nx: u32, pad0: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn xAt(n: u32, k: u32) -> f32 {
  if (n >= p.M || k >= p.K) { return 0.0; }
  return A[p.offA + n * p.sAm + k * p.sAk];
}

fn store(n: u32, o: u32, s: f32) {
  var v = p.alpha * s;
  if (p.hasBias == 1u) { v += bias[p.offBias + o]; }
  let idx = p.offC + n * p.ldc + o;
  if (p.accumulate == 1u) { v += C[idx]; }
  C[idx] = v;
}
`;

/**
 * W's four elements at `e`, `e + 1`, `e + 2`, `e + 3` (elements); `valid` (0…4) of them are
 * inside the matrix, the others read as 0. The vec4 binding needs `e` ≡ 0 (mod 4).
 */
function loadW(vec4: boolean): string {
  return vec4
    ? /* wgsl */ `
@group(0) @binding(2) var<storage, read> W: array<vec4<f32>>;
fn wAt(e: u32, valid: u32) -> vec4<f32> {
  if (valid == 0u) { return vec4<f32>(0.0); }
  let v = W[e / 4u];
  if (valid >= 4u) { return v; }
  return select(vec4<f32>(0.0), v, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(valid));
}`
    : /* wgsl */ `
@group(0) @binding(2) var<storage, read> W: array<f32>;
fn wAt(e: u32, valid: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var c = 0u; c < min(valid, 4u); c++) { v[c] = W[e + c]; }
  return v;
}`;
}

/** Vec4s (k-contiguous) or rows (o-contiguous) per lane and X tile. */
function perLane(v: Variant): number {
  return v.orientation === 'k-contiguous' ? Math.min(8, 32 / v.rows) : Math.min(8, 64 / v.rows);
}

/** k-contiguous kernel: W(k, o) at offW + o·ldw + k; 4 outputs × 32 lanes per workgroup. */
function kContiguousSource(v: Variant): string {
  const NB = v.rows;
  const J = perLane(v);
  const lines = (f: (j: number, n: number) => string) =>
    Array.from({ length: J }, (_, j) => Array.from({ length: NB }, (_, n) => f(j, n)).join('\n')).join('\n');
  return /* wgsl */ `${UNIFORM}${loadW(v.vec4)}
const NB = ${NB}u;      // rows, rounded up to a power of two
const LANES = 32u;      // lanes along k per output
const OUTS = 4u;        // outputs per workgroup
const J = ${J}u;        // vec4s per lane per tile
const KT4 = LANES * J;  // vec4s of a tile row
const KT = 4u * KT4;    // columns of a tile
// X tile [NB][KT4]; afterwards the partials [OUTS][NB][LANES] (NB·KT4 ≥ OUTS·NB·LANES/4).
var<workgroup> xs: array<vec4<f32>, ${NB * 32 * J}>;

// The vec4 of row o at columns k…k + 3 (0 outside the matrix).
fn wRow(o: u32, k: u32) -> vec4<f32> {
  if (o >= p.N || k >= p.K) { return vec4<f32>(0.0); }
  return wAt(p.offW + o * p.ldw + k, p.K - k);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.x;
  let r = tid / LANES;
  let l = tid % LANES;
  let o0 = (wg.y * p.nx + wg.x) * OUTS;
  let o = o0 + r;
  var acc: array<f32, ${NB}>;
  var w: array<vec4<f32>, ${J}>;
${Array.from({ length: J }, (_, j) => `  w[${j}] = wRow(o, 4u * (${j}u * LANES + l));`).join('\n')}
  for (var k0 = 0u; k0 < p.K; k0 += KT) {
    workgroupBarrier();
    for (var e = tid; e < NB * KT4; e += ${WG}u) {
      let n = e / KT4;
      let k = k0 + 4u * (e % KT4);
      xs[e] = vec4<f32>(xAt(n, k), xAt(n, k + 1u), xAt(n, k + 2u), xAt(n, k + 3u));
    }
    workgroupBarrier();
    var next: array<vec4<f32>, ${J}>;
    if (k0 + KT < p.K) {
${Array.from({ length: J }, (_, j) => `      next[${j}] = wRow(o, k0 + KT + 4u * (${j}u * LANES + l));`).join('\n')}
    }
${lines((j, n) => `    acc[${n}] += dot(w[${j}], xs[${n}u * KT4 + ${j}u * LANES + l]);`)}
    w = next;
  }
  workgroupBarrier();
  // partial of (output r, row n) from lane l at float (r·NB + n)·LANES + l
${Array.from({ length: NB }, (_, n) => `  xs[(r * NB + ${n}u) * 8u + l / 4u][l % 4u] = acc[${n}];`).join('\n')}
  workgroupBarrier();
  if (tid < OUTS * NB) {
    let ro = tid / NB;
    let n = tid % NB;
    if (o0 + ro < p.N && n < p.M) {
      var s = vec4<f32>(0.0);
      for (var i = 0u; i < 8u; i++) { s += xs[(ro * NB + n) * 8u + i]; }
      store(n, o0 + ro, (s.x + s.y) + (s.z + s.w));
    }
  }
}
`;
}

/** o-contiguous kernel: W(k, o) at offW + k·ldw + o; 8 outputs (2 vec4s) × 64 lanes per workgroup. */
function oContiguousSource(v: Variant): string {
  const NB = v.rows;
  const J = perLane(v);
  const CN = Math.min(NB, 8); // rows per reduction round: 8·64·CN floats ≤ 4,096
  const tile = NB * 64 * J;
  const rounds = Array.from({ length: NB / CN }, (_, c) => {
    const rows = Array.from({ length: CN }, (_, i) => c * CN + i);
    return `  workgroupBarrier();
${rows.map((n, i) => `  for (var c = 0u; c < 4u; c++) { xs[(${i}u * OUTS + 4u * q + c) * LANES + l] = acc[${n}][c]; }`).join('\n')}
  workgroupBarrier();
  if (tid < ${CN}u * OUTS) {
    let n = ${c * CN}u + tid / OUTS;
    let oo = o0 + tid % OUTS;
    if (oo < p.N && n < p.M) {
      var s = 0.0;
      for (var i = 0u; i < LANES; i++) { s += xs[tid * LANES + i]; }
      store(n, oo, s);
    }
  }`;
  });
  return /* wgsl */ `${UNIFORM}${loadW(v.vec4)}
const NB = ${NB}u;      // rows, rounded up to a power of two
const LANES = 64u;      // lanes along k
const QUADS = 2u;       // vec4s of outputs per workgroup
const OUTS = 8u;        // outputs per workgroup
const J = ${J}u;        // rows k per lane per tile
const KT = LANES * J;   // rows k of a tile
// X tile [NB][KT]; afterwards the partials of ${CN} rows [${CN}][OUTS][LANES] per round.
var<workgroup> xs: array<f32, ${Math.max(tile, CN * 8 * 64)}>;

// The outputs o…o + 3 of row k (0 outside the matrix).
fn wCol(k: u32, o: u32) -> vec4<f32> {
  if (k >= p.K || o >= p.N) { return vec4<f32>(0.0); }
  return wAt(p.offW + k * p.ldw + o, p.N - o);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.x;
  let q = tid % QUADS;
  let l = tid / QUADS;
  let o0 = (wg.y * p.nx + wg.x) * OUTS;
  let o = o0 + 4u * q;
  var acc: array<vec4<f32>, ${NB}>;
  var w: array<vec4<f32>, ${J}>;
${Array.from({ length: J }, (_, j) => `  w[${j}] = wCol(${j}u * LANES + l, o);`).join('\n')}
  for (var k0 = 0u; k0 < p.K; k0 += KT) {
    workgroupBarrier();
    for (var e = tid; e < NB * KT; e += ${WG}u) { xs[e] = xAt(e / KT, k0 + e % KT); }
    workgroupBarrier();
    var next: array<vec4<f32>, ${J}>;
    if (k0 + KT < p.K) {
${Array.from({ length: J }, (_, j) => `      next[${j}] = wCol(k0 + KT + ${j}u * LANES + l, o);`).join('\n')}
    }
${Array.from({ length: J }, (_, j) => Array.from({ length: NB }, (_, n) => `    acc[${n}] = fma(vec4<f32>(xs[${n}u * KT + ${j}u * LANES + l]), w[${j}], acc[${n}]);`).join('\n')).join('\n')}
    w = next;
  }
  // partial of (row n, output 4q + c) from lane l at float ((n mod ${CN})·OUTS + 4q + c)·LANES + l
${rounds.join('\n')}
}
`;
}

/** Smallest power of two ≥ m. */
function rowBucket(m: number): number {
  let b = 1;
  while (b < m) b *= 2;
  return b;
}

/**
 * The W binding for the vec4 kernel, or null when W must be read as scalars: the element offset
 * and leading stride must be multiples of 4, and the binding must reach the end of the last
 * vec4 it reads (`extent` elements from the view's offset), widened inside the buffer if needed.
 */
function vec4Binding(slice: Slice, offset: number, ld: number, extent: number): Slice | null {
  if (offset % 4 !== 0 || ld % 4 !== 0) return null;
  const start = slice.offset ?? 0;
  const needed = (offset + extent) * 4;
  const size = slice.size ?? slice.buffer.size - start;
  if (size >= needed) return slice;
  return start + needed <= slice.buffer.size ? { ...slice, size: needed } : null;
}

/**
 * C (+)= α·A·B (+ bias) for M ≤ {@link MATVEC_MAX_ROWS} rows: one dispatch. Same arguments and
 * result as matmul.ts's `matmul` (up to the order of the fp32 sums); B must have a unit stride
 * along k (`b.rowStride == 1`) or along the outputs (`b.colStride == 1`).
 */
export function matvec(ctx: GpuContext, label: string, args: MatmulArgs): Command {
  const { m, n, k } = args;
  assertShape(m > 0 && n > 0 && k > 0, `matvec ${label}`, `empty shape M=${m} N=${n} K=${k}`);
  assertShape(m <= MATVEC_MAX_ROWS, `matvec ${label}`, `M=${m} rows; at most ${MATVEC_MAX_ROWS} (use matmul)`);
  const b = args.b;
  const orientation: Orientation | null = b.rowStride === 1 ? 'k-contiguous' : b.colStride === 1 ? 'o-contiguous' : null;
  assertShape(orientation !== null, `matvec ${label}`, `B needs a unit stride along k or along the outputs (rowStride ${b.rowStride}, colStride ${b.colStride})`);
  const offW = b.offset ?? 0;
  const ldw = orientation === 'k-contiguous' ? b.colStride : b.rowStride;
  const extent = orientation === 'k-contiguous' ? (n - 1) * ldw + Math.ceil(k / 4) * 4 : (k - 1) * ldw + Math.ceil(n / 4) * 4;
  const wide = vec4Binding(b.slice, offW, ldw, extent);
  const variant: Variant = { orientation: orientation!, rows: rowBucket(m), vec4: wide !== null };
  const source = orientation === 'k-contiguous' ? kContiguousSource(variant) : oContiguousSource(variant);
  const pipeline = ctx.pipeline(`matvec.${orientation}.${variant.rows}${variant.vec4 ? '.vec4' : ''}`, source);
  const groups = grid(Math.ceil(n / (orientation === 'k-contiguous' ? 4 : 8)), 1);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', m], ['u32', n], ['u32', k], ['u32', args.a.offset ?? 0],
    ['u32', args.a.rowStride], ['u32', args.a.colStride], ['u32', offW], ['u32', ldw],
    ['u32', args.c.offset ?? 0], ['u32', args.c.ldc ?? n], ['u32', args.accumulate ? 1 : 0], ['u32', args.bias ? 1 : 0],
    ['u32', args.bias?.offset ?? 0], ['f32', args.alpha ?? 1], ['u32', groups[0]], ['u32', 0],
  ]);
  const bias = args.bias?.slice ?? args.a.slice;
  return ctx.dispatch(label, pipeline, [uniform, args.a.slice, wide ?? b.slice, args.c.slice, bias], groups);
}
