/**
 * Global gradient norm and the clipping coefficient of `torch.nn.utils.clip_grad_norm_`, in two
 * passes and without a read-back between them:
 *   pass 1: each 256-thread workgroup sums the squares of a 256·K-element block into partial[wg]
 *           (several ranges may write disjoint parts of `partial`);
 *   pass 2: one workgroup sums the partials in index order: n = √Σ, and
 *           clip = min(1, maxNorm / (n + 1e−6)) (1 when maxNorm ≤ 0: clipping off).
 * Output [n, clip], read by adamw.ts; the engine reads n back once per step to report it.
 * Deterministic: fixed block ownership and tree reductions.
 * No backward (a norm of gradients is not differentiated).
 */
import { grid, type Command, type GpuContext, type Slice } from '../gpu.js';
import { ROW_REDUCE_256 } from './reduce.js';

/** Elements each pass-1 thread reads (per workgroup: 256 × this). */
export const NORM_ELEMENTS_PER_THREAD = 16;

const PARTIAL_WGSL = /* wgsl */ `
struct P { n: u32, nx: u32, partialOffset: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
${ROW_REDUCE_256}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let block = wg.y * p.nx + wg.x;
  let base = block * ${256 * NORM_ELEMENTS_PER_THREAD}u;
  var s = 0.0;
  for (var k = 0u; k < ${NORM_ELEMENTS_PER_THREAD}u; k++) {
    let i = base + k * 256u + l.x;
    if (i < p.n) { let v = x[i]; s += v * v; }
  }
  s = rowSum(s, l.x);
  if (l.x == 0u) { partial[p.partialOffset + block] = s; }
}
`;

const FINAL_WGSL = /* wgsl */ `
struct P { count: u32, maxNorm: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${ROW_REDUCE_256}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  var s = 0.0;
  for (var i = l.x; i < p.count; i += 256u) { s += partial[i]; }
  s = rowSum(s, l.x);
  if (l.x == 0u) {
    let n = sqrt(s);
    out[0] = n;
    var c = 1.0;
    if (p.maxNorm > 0.0) { c = min(1.0, p.maxNorm / (n + 1.0e-6)); }
    out[1] = c;
  }
}
`;

/** Pass-1 workgroups (= partial sums) for a range of n elements. */
export function normPartials(n: number): number {
  return Math.max(1, Math.ceil(n / (256 * NORM_ELEMENTS_PER_THREAD)));
}

/** Pass 1 over one range: partial[offset … offset + normPartials(n)) = block sums of squares. */
export function globalNormPartial(ctx: GpuContext, label: string, a: { n: number; x: Slice; partial: Slice; partialOffset: number }): Command {
  const groups = grid(normPartials(a.n), 1);
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.n], ['u32', groups[0]], ['u32', a.partialOffset], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('global_norm_partial', PARTIAL_WGSL), [uniform, a.x, a.partial], groups);
}

/**
 * Pass 2: out = [norm, clip] from `count` partials. `maxNorm` is a uniform buffer holding
 * [count (u32), maxNorm (f32)] when the engine changes it per step; {@link globalNormUniform} builds it.
 */
export function globalNormFinal(ctx: GpuContext, label: string, a: { uniform: GPUBuffer; partial: Slice; out: Slice }): Command {
  return ctx.dispatch(label, ctx.pipeline('global_norm_final', FINAL_WGSL), [a.uniform, a.partial, a.out], [1, 1, 1]);
}

/** Uniform fields of pass 2. */
export function globalNormUniform(count: number, maxNorm: number): [['u32', number], ['f32', number], ['u32', number], ['u32', number]] {
  return [['u32', count], ['f32', maxNorm], ['u32', 0], ['u32', 0]];
}

