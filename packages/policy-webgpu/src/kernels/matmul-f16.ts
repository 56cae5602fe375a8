/**
 * Mixed-precision matmul: C[M, N] (+)= α · A[M, K] · B[K, N] (+ bias[N]) with f16 operands and
 * fp32 accumulation (the original design's mixed precision training: f16 matmuls and
 * activations, fp32 master weights; weights reach these kernels through cast-f16.ts).
 *
 * Operands are strided views exactly as in matmul.ts (element (i, k) of A at
 * `offA + i·sAm + k·sAk`, offsets and strides in f16 elements), so the same three products
 * cover a transformer's forward and backward: A·B (Conv1D forward, `dX = dY·W` of Linear),
 * A·Bᵀ (Linear forward, `dX = dY·Wᵀ` of Conv1D) and Aᵀ·B (`dW += Xᵀ·dY`, `dW += dYᵀ·X`).
 * Local derivative as in matmul.ts: dX[i,k] = Σ_n dY[i,n]·W[k,n], dW[k,n] = Σ_i X[i,k]·dY[i,n].
 * C is fp32 (default: gradients accumulated into the fp32 master gradients, logits) or f16
 * (activations); the bias is the fp32 master bias. `accumulate` reads C back in its own type.
 * `alphaScale` multiplies α by a value read on the GPU (fp32 storage): the inverse of the
 * power-of-two scale a gradient was multiplied by before its f16 cast (kernels/f16-scale.ts),
 * so a scaled f16 dY gives unscaled fp32 dX and dW (exact: a power of two).
 *
 * Two kernels, one launcher ({@link matmulF16}); both need the device feature `shader-f16`
 * (`enable f16;`), and the launcher throws `WEBGPU_UNSUPPORTED` without it:
 * - plain: matmul.ts's tiling (64×64 outputs per 16×16-thread workgroup, 4×4 per thread, K in
 *   steps of 16 through workgroup memory, here held as f16), every product formed in fp32
 *   (exact: two 11-bit significands fit in fp32's 24) and summed with fp32 `fma` in k order.
 *   Runs on every device with `shader-f16` (lavapipe included: the tested path).
 * - subgroup matrix (tensor cores; Dawn's experimental `chromium-experimental-subgroup-matrix`,
 *   Vulkan `VK_KHR_cooperative_matrix`, Metal simdgroup matrices): usable where the device has
 *   the feature and the adapter lists an f16 × f16 → f32 configuration of 16×16×16 (else 8×8×8)
 *   and a fixed subgroup size (subgroupMinSize = subgroupMaxSize; NVIDIA and Apple); 'auto'
 *   selects it once {@link prepareMatmulF16} has compiled it on the device (WGSL of Dawn as in
 *   `webgpu` 0.6: `subgroupMatrixLoad<T, row_major>(ptr, offset, stride)`, `subgroup_id`). A
 *   workgroup of 4 subgroups computes a 4S×4S tile (S = 16: 64×64), each subgroup a 2S×2S
 *   quarter as 2×2 result matrices; A and B tiles of K-depth 2S are staged in workgroup memory
 *   (zero-padded at the edges, so no shape needs to be a multiple of anything), results leave
 *   through a per-subgroup S×S staging area so the epilogue (α, bias, accumulate, f16 rounding,
 *   bounds) is the plain kernel's. The hardware's summation order inside one S-deep step is
 *   its own (ULPs of the multiply-accumulate are undefined by the extension); products and sums
 *   are fp32, as the configuration's result type says.
 *
 * Tolerances (the tests check them; u16 = 2⁻¹¹ is the f16 unit roundoff, u32 = 2⁻²⁴):
 * - against a float64 reference computed from the same f16-rounded operands (fp32 output):
 *   |C − Ĉ| ≤ K·u32 · Σ_k |A_ik·B_kj| per element (fp32 summation of exact products; the
 *   tensor-core path gets 2·K·u32 for its unspecified internal order). An f16 accumulator would
 *   miss this by orders of magnitude (the K = 4096 test);
 * - f16 output: additionally the final rounding, u16 · |C| (RNE, bit-exact integer rounding);
 * - against the fp32 kernel on the unrounded fp32 operands: (2·u16 + u16²) · Σ_k |A_ik·B_kj|
 *   from rounding each operand to f16, plus the fp32 summation terms of both kernels.
 * In words: an f16 matmul is as accurate as the fp32 one on f16 inputs; the f16 rounding of
 * the inputs costs about 1e-3 of Σ|a·b|, which is what mixed precision trades for speed.
 */
import { PolicyWebGpuError, assertShape } from '../errors.js';
import type { Command, GpuContext, Slice } from '../gpu.js';
import { F32_TO_F16_BITS_WGSL } from './cast-f16.js';
import type { MatmulArgs } from './matmul.js';
import type { MatmulF16Path } from '../model-types.js';

/** Element type of C in {@link matmulF16}. */
export type MatmulF16Output = 'f32' | 'f16';

/** Kernel choice of {@link matmulF16} (defined with the engine's other GPU-free option types). */
export type { MatmulF16Path } from '../model-types.js';

/** Arguments of {@link matmulF16}: those of matmul.ts's `matmul`, with f16 operands. */
export interface MatmulF16Args extends MatmulArgs {
  /**
   * Element type of C (default: 'f32'). C's `offset` and `ldc` count elements of this type; A's
   * and B's offsets and strides count f16 elements; the bias stays fp32.
   */
  output?: MatmulF16Output;
  /**
   * A factor of α read on the GPU: C (+)= α · alphaScale[offset] · A·B (+ bias), `offset` in fp32
   * elements (default: none, the factor is 1). The engine passes the inverse loss scale of the
   * f16 gradient operand (kernels/f16-scale.ts).
   */
  alphaScale?: { slice: Slice; offset?: number };
  /**
   * Kernel (default: 'auto': the subgroup-matrix kernel where {@link prepareMatmulF16} verified
   * it on this device, else the plain one). 'subgroup-matrix' throws `WEBGPU_UNSUPPORTED` where
   * {@link subgroupMatrixSupport} finds it unusable.
   */
  path?: MatmulF16Path;
}

/** Anything that holds a device: a {@link GpuContext} or a `GPUDevice`. */
export type DeviceLike = GpuContext | GPUDevice;

function deviceOf(d: DeviceLike): GPUDevice {
  return 'device' in d ? d.device : d;
}

/** True when the device was created with `shader-f16`, which every kernel of this file needs. */
export function supportsF16(device: DeviceLike): boolean {
  return deviceOf(device).features.has('shader-f16');
}

/** The WebGPU feature name of Dawn's experimental subgroup matrices. */
export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/**
 * The Dawn instance flag under which experimental features such as subgroup matrices are
 * offered (pass it in `createPolicyDevice({ dawnFlags })` / the `webgpu` package's `create`).
 */
export const SUBGROUP_MATRIX_DAWN_FLAG = 'enable-dawn-features=allow_unsafe_apis';

/** One entry of `adapter.info.subgroupMatrixConfigs` (Dawn's `GPUSubgroupMatrixConfig`). */
export interface SubgroupMatrixConfig {
  /** Element type of the left and right matrices ('f16', 'f32', 'u8', …). */
  componentType: string;
  /** Element type of the result matrix. */
  resultComponentType: string;
  /** Rows of the left and result matrices. */
  M: number;
  /** Columns of the right and result matrices. */
  N: number;
  /** Columns of the left, rows of the right matrix. */
  K: number;
}

/** The parts of a `GPUAdapterInfo` the subgroup-matrix path reads. */
export interface SubgroupMatrixAdapterInfo {
  /** Smallest subgroup size the adapter may use. */
  subgroupMinSize?: number;
  /** Largest subgroup size the adapter may use. */
  subgroupMaxSize?: number;
  /** Supported subgroup-matrix shapes (only with the feature). */
  subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig>;
}

/** What the subgroup-matrix kernel is built for on a device. */
export interface SubgroupMatrixSupport {
  /** Side S of the square f16 × f16 → f32 configuration used (16 or 8). */
  size: 16 | 8;
  /** The adapter's (fixed) subgroup size: the x size of the workgroup. */
  subgroupSize: number;
}

/** The adapter info registered per device (`adapter.info`, which lists the configurations). */
const adapterInfos = new WeakMap<GPUDevice, SubgroupMatrixAdapterInfo>();

/**
 * Tell the subgroup-matrix path which adapter a device came from (its `adapter.info`). Needed on
 * Dawn (the `webgpu` package): its `GPUDevice.adapterInfo` exists but never lists
 * `subgroupMatrixConfigs` (the binding's `GPUDevice::getAdapterInfo` chains no
 * `AdapterPropertiesSubgroupMatrixConfigs`, while `GPUAdapter::getInfo` does when the adapter has
 * the feature), and on implementations without that attribute. A registered info wins over
 * `device.adapterInfo`. `createGpuContext` registers it.
 */
export function registerAdapterInfo(device: DeviceLike, info: SubgroupMatrixAdapterInfo): void {
  adapterInfos.set(deviceOf(device), info);
}

/**
 * The features to request, beside the ones already wanted, for the subgroup-matrix kernel:
 * `shader-f16`, `subgroups` and {@link SUBGROUP_MATRIX_FEATURE}, each only if the adapter offers
 * it (empty when it lacks the subgroup-matrix feature).
 */
export function subgroupMatrixFeatures(adapter: { features: ReadonlySet<string> }): GPUFeatureName[] {
  const wanted = ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE];
  return wanted.every((f) => adapter.features.has(f)) ? (wanted as GPUFeatureName[]) : [];
}

/**
 * Whether the subgroup-matrix kernel can run on this device, and why not: the device must have
 * `shader-f16`, `subgroups` and {@link SUBGROUP_MATRIX_FEATURE}, its adapter a fixed subgroup
 * size and an f16 × f16 → f32 configuration of 16×16×16 or 8×8×8 (16 preferred). The adapter
 * info comes from {@link registerAdapterInfo}, else from `device.adapterInfo` (which Dawn's binding
 * fills without configurations, as its source shows: the H100 runs of 2026-12-07 read it first and
 * so never chose the kernel).
 */
export function subgroupMatrixSupport(device: DeviceLike): { support: SubgroupMatrixSupport } | { reason: string } {
  const dev = deviceOf(device);
  const missing = ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE].filter((f) => !dev.features.has(f));
  if (missing.length > 0) return { reason: `the device lacks ${missing.join(', ')}` };
  const info = adapterInfos.get(dev) ?? (dev as GPUDevice & { adapterInfo?: SubgroupMatrixAdapterInfo }).adapterInfo;
  if (!info) return { reason: 'the adapter info is unknown (no device.adapterInfo; call registerAdapterInfo)' };
  const configs = [...(info.subgroupMatrixConfigs ?? [])];
  const sizes = ([16, 8] as const).filter((s) =>
    configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === s && c.N === s && c.K === s),
  );
  const listed = configs.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(', ') || 'none';
  if (sizes.length === 0) {
    const hint = adapterInfos.has(dev) ? '' : '; on Dawn, device.adapterInfo lists none: pass adapter.info to registerAdapterInfo';
    return { reason: `no f16→f32 16×16×16 or 8×8×8 subgroup-matrix configuration (the adapter lists: ${listed}${hint})` };
  }
  const min = info.subgroupMinSize ?? 0;
  const max = info.subgroupMaxSize ?? 0;
  if (min !== max || max === 0) return { reason: `the subgroup size varies (${min}…${max}); the kernel needs a fixed one` };
  return { support: { size: sizes[0]!, subgroupSize: max } };
}

/** Uniform block shared by both kernels (matmul.ts's fields, then the α factor read on the GPU). */
const PARAMS_WGSL = /* wgsl */ `
struct P {
  M: u32, N: u32, K: u32, offA: u32,
  sAm: u32, sAk: u32, offB: u32, sBk: u32,
  sBn: u32, offC: u32, ldc: u32, accumulate: u32,
  hasBias: u32, offBias: u32, alpha: f32, hasScale: u32,
  offScale: u32, pad0: u32, pad1: u32, pad2: u32,
}
`;

/** Bindings and the epilogue `storeC(r, c, acc)`: α (and its GPU factor), bias, accumulate, conversion, in that order. */
function ioWgsl(output: MatmulF16Output): string {
  const store =
    output === 'f32'
      ? 'if (p.accumulate == 1u) { v += C[idx]; }\n  C[idx] = v;'
      : 'if (p.accumulate == 1u) { v += f32(C[idx]); }\n  C[idx] = bitcast<vec2<f16>>(f32BitsToF16Bits(bitcast<u32>(v))).x;';
  return /* wgsl */ `
${PARAMS_WGSL}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f16>;
@group(0) @binding(2) var<storage, read> B: array<f16>;
@group(0) @binding(3) var<storage, read_write> C: array<${output}>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> alphaScale: array<f32>;
${output === 'f16' ? F32_TO_F16_BITS_WGSL : ''}
fn storeC(r: u32, c: u32, acc: f32) {
  var v = p.alpha * acc;
  if (p.hasScale == 1u) { v *= alphaScale[p.offScale]; }
  if (p.hasBias == 1u) { v += bias[p.offBias + c]; }
  let idx = p.offC + r * p.ldc + c;
  ${store}
}
`;
}

/** The plain kernel: matmul.ts's tiling with f16 tiles and fp32 products and sums. */
function plainWgsl(output: MatmulF16Output): string {
  return /* wgsl */ `
enable f16;
${ioWgsl(output)}
var<workgroup> As: array<f16, 1024>; // [16 k][64 m]
var<workgroup> Bs: array<f16, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 256u;
      // A tile: consecutive threads walk m when A is k-major (sAm == 1), else k.
      var m = e / 16u; var kk = e % 16u;
      if (p.sAm == 1u) { m = e % 64u; kk = e / 64u; }
      let gm = row0 + m; let gk = k0 + kk;
      var a = 0.0h;
      if (gm < p.M && gk < p.K) { a = A[p.offA + gm * p.sAm + gk * p.sAk]; }
      As[kk * 64u + m] = a;
      var n = e % 64u; var kb = e / 64u;
      if (p.sBk == 1u) { n = e / 16u; kb = e % 16u; }
      let gn = col0 + n; let gkb = k0 + kb;
      var b = 0.0h;
      if (gn < p.N && gkb < p.K) { b = B[p.offB + gkb * p.sBk + gn * p.sBn]; }
      Bs[kb * 64u + n] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a4: array<f32, 4>;
      var b4: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a4[i] = f32(As[kk * 64u + lid.y + i * 16u]);
        b4[i] = f32(Bs[kk * 64u + lid.x + i * 16u]);
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(a4[i], b4[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + i * 16u;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + j * 16u;
      if (c >= p.N) { continue; }
      storeC(r, c, acc[i * 4u + j]);
    }
  }
}
`;
}

/**
 * The subgroup-matrix kernel for S×S×S f16 → f32 matrices and subgroups of `subgroupSize`
 * invocations: workgroup (subgroupSize, 4) = 4 subgroups, tile 4S×4S, K-depth 2S per stage.
 */
function subgroupMatrixWgsl(output: MatmulF16Output, support: SubgroupMatrixSupport): string {
  const S = support.size;
  const left = `subgroup_matrix_left<f16, ${S}, ${S}>`;
  const right = `subgroup_matrix_right<f16, ${S}, ${S}>`;
  const result = `subgroup_matrix_result<f32, ${S}, ${S}>`;
  const blocks = [[0, 0], [0, 1], [1, 0], [1, 1]] as const;
  // Unrolled by hand: one named variable per matrix (no dynamic indexing of matrix arrays).
  const step = (kk: number): string => /* wgsl */ `
      {
        let a0 = subgroupMatrixLoad<${left}, row_major>(&As, qr * KT + ${kk}u, KT);
        let a1 = subgroupMatrixLoad<${left}, row_major>(&As, (qr + S) * KT + ${kk}u, KT);
        let b0 = subgroupMatrixLoad<${right}, row_major>(&Bs, ${kk}u * T + qc, T);
        let b1 = subgroupMatrixLoad<${right}, row_major>(&Bs, ${kk}u * T + qc + S, T);
        c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
        c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
        c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
        c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
      }`;
  const drain = ([bi, bj]: readonly [number, number]): string => /* wgsl */ `
  subgroupMatrixStore<row_major>(&Cs, sg * S * S, c${bi}${bj}, S);
  workgroupBarrier();
  for (var e = lane; e < S * S; e += SG) {
    let r = row0 + qr + ${bi * S}u + e / S;
    let c = col0 + qc + ${bj * S}u + e % S;
    if (r < p.M && c < p.N) { storeC(r, c, Cs[sg * S * S + e]); }
  }
  workgroupBarrier();`;
  return /* wgsl */ `
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
// The subgroup index selects which quarter of the tile a subgroup multiplies: uniform within
// each subgroup (what the matrix built-ins need), not across the workgroup (what the analysis sees).
diagnostic(off, chromium.subgroup_matrix_uniformity);
${ioWgsl(output)}
const S = ${S}u;          // side of one subgroup matrix
const T = ${4 * S}u;      // side of the workgroup's output tile
const KT = ${2 * S}u;     // K-depth of one stage
const SG = ${support.subgroupSize}u;
const THREADS = ${4 * support.subgroupSize}u;
var<workgroup> As: array<f16, ${4 * S * 2 * S}>; // [T m][KT k]
var<workgroup> Bs: array<f16, ${2 * S * 4 * S}>; // [KT k][T n]
var<workgroup> Cs: array<f32, ${4 * S * S}>;     // [subgroup][S][S] result staging

@compute @workgroup_size(${support.subgroupSize}, 4)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let row0 = wg.y * T;
  let col0 = wg.x * T;
  let qr = (sg / 2u) * 2u * S; // this subgroup's quarter of the tile
  let qc = (sg % 2u) * 2u * S;
  var c00 = ${result}();
  var c01 = ${result}();
  var c10 = ${result}();
  var c11 = ${result}();
  for (var k0 = 0u; k0 < p.K; k0 += KT) {
    for (var e = li; e < T * KT; e += THREADS) {
      // consecutive invocations walk the unit-stride dimension of A (m when sAm == 1, else k)
      var m = e / KT; var kk = e % KT;
      if (p.sAm == 1u) { m = e % T; kk = e / T; }
      let gm = row0 + m; let gk = k0 + kk;
      var a = 0.0h;
      if (gm < p.M && gk < p.K) { a = A[p.offA + gm * p.sAm + gk * p.sAk]; }
      As[m * KT + kk] = a;
    }
    for (var e = li; e < KT * T; e += THREADS) {
      var n = e % T; var kb = e / T;
      if (p.sBk == 1u) { n = e / KT; kb = e % KT; }
      let gn = col0 + n; let gkb = k0 + kb;
      var b = 0.0h;
      if (gn < p.N && gkb < p.K) { b = B[p.offB + gkb * p.sBk + gn * p.sBn]; }
      Bs[kb * T + n] = b;
    }
    workgroupBarrier();${step(0)}${step(S)}
    workgroupBarrier();
  }${blocks.map(drain).join('')}
}
`;
}

/** Per device: the verdict of {@link prepareMatmulF16} (absent: not prepared, 'auto' stays plain). */
const prepared = new WeakMap<GPUDevice, { support: SubgroupMatrixSupport } | { reason: string }>();

function requireF16(ctx: GpuContext): void {
  if (!supportsF16(ctx)) {
    throw new PolicyWebGpuError(
      'WEBGPU_UNSUPPORTED',
      `matmulF16: the device has no 'shader-f16' feature (adapter: ${ctx.adapterInfo || 'unknown'}); use the fp32 matmul of kernels/matmul.ts`,
    );
  }
}

/**
 * Let 'auto' use the subgroup-matrix kernel on this device: where {@link subgroupMatrixSupport}
 * allows it, compile both of its variants (fp32 and f16 output) inside a validation error scope,
 * and remember the verdict, so a Dawn whose WGSL differs from the one this kernel was written
 * for falls back to the plain kernel instead of failing at the first dispatch. Call it once per
 * device, before recording; returns the kernel 'auto' now selects. Throws `WEBGPU_UNSUPPORTED`
 * without `shader-f16`.
 */
export async function prepareMatmulF16(ctx: GpuContext): Promise<'plain' | 'subgroup-matrix'> {
  requireF16(ctx);
  const found = subgroupMatrixSupport(ctx);
  if ('support' in found) {
    ctx.device.pushErrorScope('validation');
    let thrown: unknown = null;
    try {
      for (const output of ['f32', 'f16'] as const) ctx.pipeline(`matmul_f16_subgroup-matrix_${output}`, subgroupMatrixWgsl(output, found.support));
    } catch (error) {
      thrown = error;
    }
    const error = await ctx.device.popErrorScope();
    if (thrown !== null || error) {
      const message = thrown !== null ? (thrown as Error).message : error!.message;
      prepared.set(ctx.device, { reason: `the subgroup-matrix kernel did not compile: ${message.split('\n')[0]}` });
      return 'plain';
    }
  }
  prepared.set(ctx.device, found);
  return 'support' in found ? 'subgroup-matrix' : 'plain';
}

/**
 * The kernel {@link matmulF16} runs on this device for `path` (default 'auto'): 'auto' gives
 * 'subgroup-matrix' once {@link prepareMatmulF16} has verified it on this device, else 'plain';
 * 'subgroup-matrix' needs {@link subgroupMatrixSupport}, and no failed compile by
 * {@link prepareMatmulF16}. Throws like {@link matmulF16}.
 */
export function matmulF16Kernel(ctx: GpuContext, path: MatmulF16Path = 'auto'): 'plain' | 'subgroup-matrix' {
  requireF16(ctx);
  if (path === 'plain') return 'plain';
  if (path === 'auto') return prepared.get(ctx.device) && 'support' in prepared.get(ctx.device)! ? 'subgroup-matrix' : 'plain';
  // a compile failure that prepareMatmulF16 saw on this device counts as much as a missing feature
  const verdict = prepared.get(ctx.device);
  const found = verdict && 'reason' in verdict ? verdict : subgroupMatrixSupport(ctx);
  if ('reason' in found) throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', `matmulF16: the subgroup-matrix kernel cannot run here: ${found.reason}`);
  return 'subgroup-matrix';
}

/**
 * Why 'auto' does not use the subgroup-matrix kernel on this device (null when it does): not
 * prepared yet, unsupported (the reason of {@link subgroupMatrixSupport}), or failed to compile.
 */
export function matmulF16FallbackReason(ctx: GpuContext): string | null {
  const verdict = prepared.get(ctx.device);
  if (!verdict) return 'prepareMatmulF16 has not run on this device';
  return 'reason' in verdict ? verdict.reason : null;
}

/**
 * C (+)= α·A·B (+ bias) with f16 A and B, fp32 accumulation, fp32 or f16 C: one dispatch (see the
 * file header for the kernels and tolerances). Throws `WEBGPU_UNSUPPORTED` on a device without
 * `shader-f16` (and for `path: 'subgroup-matrix'` where that kernel cannot run), `WEBGPU_SHAPE`
 * for an empty shape or a grid beyond 65,535 tiles.
 */
export function matmulF16(ctx: GpuContext, label: string, args: MatmulF16Args): Command {
  const { m, n, k } = args;
  const output = args.output ?? 'f32';
  const kernel = matmulF16Kernel(ctx, args.path);
  assertShape(m > 0 && n > 0 && k > 0, `matmulF16 ${label}`, `empty shape M=${m} N=${n} K=${k}`);
  const found = kernel === 'subgroup-matrix' ? subgroupMatrixSupport(ctx) : null;
  const support = found && 'support' in found ? found.support : null;
  const tile = support ? 4 * support.size : 64;
  const groups: [number, number, number] = [Math.ceil(n / tile), Math.ceil(m / tile), 1];
  assertShape(groups[0] <= 65535 && groups[1] <= 65535, `matmulF16 ${label}`, `M=${m}, N=${n} need more than 65,535 tiles of ${tile}`);
  const code = support ? subgroupMatrixWgsl(output, support) : plainWgsl(output);
  const pipeline = ctx.pipeline(`matmul_f16_${kernel}_${output}`, code);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', m], ['u32', n], ['u32', k], ['u32', args.a.offset ?? 0],
    ['u32', args.a.rowStride], ['u32', args.a.colStride], ['u32', args.b.offset ?? 0], ['u32', args.b.rowStride],
    ['u32', args.b.colStride], ['u32', args.c.offset ?? 0], ['u32', args.c.ldc ?? n], ['u32', args.accumulate ? 1 : 0],
    ['u32', args.bias ? 1 : 0], ['u32', args.bias?.offset ?? 0], ['f32', args.alpha ?? 1], ['u32', args.alphaScale ? 1 : 0],
    ['u32', args.alphaScale?.offset ?? 0], ['u32', 0], ['u32', 0], ['u32', 0],
  ]);
  // unused bindings get A's (read-only) range
  const bias: Slice = args.bias?.slice ?? args.a.slice;
  const alphaScale: Slice = args.alphaScale?.slice ?? args.a.slice;
  return ctx.dispatch(label, pipeline, [uniform, args.a.slice, args.b.slice, args.c.slice, bias, alphaScale], groups);
}
