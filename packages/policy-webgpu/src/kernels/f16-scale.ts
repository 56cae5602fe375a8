/**
 * Per-tensor loss scale of an fp32 gradient before its f16 cast (mixed-precision backward):
 * gradients such as dlogits = g·(onehot − p)/T are often far below f16's smallest normal value
 * (2⁻¹⁴ ≈ 6.1e-5; its subnormals end at 2⁻²⁴ ≈ 6e-8), so a plain cast would flush most of them to
 * zero. Instead each gradient tensor dY [n] is cast as f16(s·dY) with
 *   m = max_i |dY_i|,   s = 2^(14 − ⌊log₂ m⌋)  (so 2¹⁴ ≤ s·m < 2¹⁵, well below f16's 65504),
 *   s = 1 when m = 0,   the exponent clamped to [−126, 126] (s and 1/s are normal fp32),
 * and the f16 matmuls that read it multiply their result by 1/s (matmul-f16.ts `alphaScale`):
 * s is a power of two, so scaling and unscaling are exact and the only rounding is the f16 cast
 * itself, now relative to the tensor's largest element (elements below about m·2⁻³⁹ still
 * round to zero). Output [s, 1/s] (fp32), read by the scaled cast (cast-f16.ts `scale`) and the
 * matmuls. s is always a finite power of two: a NaN may win WGSL's max (either operand is
 * allowed), then m > 0 is false and s = 1; m = ∞ gives s = 2⁻¹¹⁴. Non-finite elements survive
 * the cast, so a non-finite gradient still reaches the optimizer's norm check (update skipped).
 * Two passes, no read-back: each 256-thread workgroup takes the max of a 256·16-element block,
 * then one workgroup reduces the partial maxima (order-free: max is exact).
 * No backward (a scale is not differentiated).
 */
import { grid, type Command, type GpuContext, type Slice } from '../gpu.js';
import { ROW_REDUCE_256 } from './reduce.js';

/** Elements each pass-1 thread reads (per workgroup: 256 × this). */
export const SCALE_ELEMENTS_PER_THREAD = 16;

/** Target exponent: s·m lies in [2^TARGET, 2^(TARGET + 1)). */
export const F16_SCALE_TARGET_EXPONENT = 14;

const PARTIAL_WGSL = /* wgsl */ `
struct P { n: u32, nx: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
${ROW_REDUCE_256}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let block = wg.y * p.nx + wg.x;
  let base = block * ${256 * SCALE_ELEMENTS_PER_THREAD}u;
  var m = 0.0;
  for (var k = 0u; k < ${SCALE_ELEMENTS_PER_THREAD}u; k++) {
    let i = base + k * 256u + l.x;
    if (i < p.n) { m = max(m, abs(x[i])); }
  }
  m = rowMax(m, l.x);
  if (l.x == 0u) { partial[block] = m; }
}
`;

const FINAL_WGSL = /* wgsl */ `
struct P { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${ROW_REDUCE_256}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) l: vec3<u32>) {
  var m = 0.0;
  for (var i = l.x; i < p.count; i += 256u) { m = max(m, partial[i]); }
  m = rowMax(m, l.x);
  if (l.x == 0u) {
    var e = 0;
    if (m > 0.0) {
      // ⌊log₂ m⌋ from the exponent field (fp32 subnormals: below −126, clamped below anyway)
      let field = i32((bitcast<u32>(m) >> 23u) & 0xffu);
      e = clamp(${F16_SCALE_TARGET_EXPONENT} - (field - 127), -126, 126);
    }
    out[0] = bitcast<f32>(u32(e + 127) << 23u);
    out[1] = bitcast<f32>(u32(127 - e) << 23u);
  }
}
`;

/** Pass-1 workgroups (= partial maxima) for n elements. */
export function f16ScalePartials(n: number): number {
  return Math.max(1, Math.ceil(n / (256 * SCALE_ELEMENTS_PER_THREAD)));
}

/** Arguments of {@link f16Scale}. */
export interface F16ScaleArgs {
  /** Elements of the gradient. */
  n: number;
  /** The fp32 gradient [n]. */
  x: Slice;
  /** Scratch of {@link f16ScalePartials}(n) floats (or more). */
  partial: Slice;
  /** Output [s, 1/s] (2 floats). */
  out: Slice;
}

/** [s, 1/s] of the gradient `x` (see the file header): two dispatches. */
export function f16Scale(ctx: GpuContext, label: string, args: F16ScaleArgs): Command[] {
  const count = f16ScalePartials(args.n);
  const groups = grid(count, 1);
  const partialUniform = ctx.uniform(`${label}.partial.p`, [['u32', args.n], ['u32', groups[0]], ['u32', 0], ['u32', 0]]);
  const finalUniform = ctx.uniform(`${label}.final.p`, [['u32', count], ['u32', 0], ['u32', 0], ['u32', 0]]);
  return [
    ctx.dispatch(`${label}.partial`, ctx.pipeline('f16_scale_partial', PARTIAL_WGSL), [partialUniform, args.x, args.partial], groups),
    ctx.dispatch(`${label}.final`, ctx.pipeline('f16_scale_final', FINAL_WGSL), [finalUniform, args.partial, args.out], [1, 1, 1]),
  ];
}
