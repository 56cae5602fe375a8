/**
 * Helpers shared by the tests (not exported from the package): the test device, seeded random
 * data, buffer round trips and the relative-error check.
 *
 * The WebGPU tests run wherever an adapter initialises, including CPU-only machines with Mesa's
 * lavapipe (`VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json`). Without an adapter they are
 * skipped with a message, except under CI (env `CI` set), where a missing adapter fails the file:
 * CI installs lavapipe precisely so that these tests run.
 */
import { describe } from 'vitest';
import { createGpuContext, type Command, type GpuContext } from '../gpu.js';

/**
 * Extra Dawn instance toggles for the test devices, from env `VLM_GRPO_TEST_DAWN_TOGGLES`
 * (comma-separated; e.g. `vulkan_enable_f16_on_nvidia`, without which Dawn offers no `shader-f16`
 * on NVIDIA and the f16 tests are skipped there). Default: none.
 */
export const testDawnToggles: string[] = (process.env.VLM_GRPO_TEST_DAWN_TOGGLES ?? '').split(',').filter(Boolean);

/** The Dawn instance flags carrying {@link testDawnToggles} (empty without them). */
export const testDawnFlags: string[] = testDawnToggles.length > 0 ? [`enable-dawn-features=${testDawnToggles.join(',')}`] : [];

async function testContext(): Promise<GpuContext | null> {
  try {
    return await createGpuContext({ dawnFlags: testDawnFlags });
  } catch (error) {
    if (process.env.CI) {
      throw new Error(`CI is set but no WebGPU adapter initialised (install Mesa lavapipe): ${(error as Error).message}`, { cause: error });
    }
    console.warn(`[policy-webgpu] WebGPU tests skipped: ${(error as Error).message}`);
    return null;
  }
}

/** The shared test device, or null (tests skipped) where no adapter initialises outside CI. */
export const gpu: GpuContext | null = await testContext();

/** `describe` that runs only with a device. */
export function describeGpu(name: string, fn: () => void): void {
  describe.skipIf(!gpu)(name, fn);
}

/** The device (inside a `describeGpu` block). */
export function device(): GpuContext {
  if (!gpu) throw new Error('no WebGPU device');
  return gpu;
}

/** Seeded uniform numbers in [lo, hi) (mulberry32). */
export function random(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 1) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Submit commands and wait for them; a WebGPU validation error fails the test. */
export async function run(ctx: GpuContext, commands: readonly Command[]): Promise<void> {
  ctx.device.pushErrorScope('validation');
  ctx.submit(commands);
  const error = await ctx.device.popErrorScope();
  if (error) throw new Error(`WebGPU validation error: ${error.message}`);
  await ctx.device.queue.onSubmittedWorkDone();
}

/** Read a whole float32 buffer of n values. */
export function read(ctx: GpuContext, buffer: GPUBuffer, n: number): Promise<Float32Array> {
  return ctx.readF32(buffer, n);
}

/** max |a − e| / max |e| (0 when both are all zero). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i += 1) {
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * Gradient of the scalar `f` with respect to `inputs[which]`, by central differences in float64
 * (step 1e-4 · max(1, |x|)): the backward references, independent of the analytic derivatives
 * the kernels implement.
 */
export function numericGradient(f: (inputs: Float64Array[]) => number, inputs: readonly ArrayLike<number>[], which: number): Float64Array {
  const xs = inputs.map((x) => Float64Array.from(x));
  const target = xs[which]!;
  const grad = new Float64Array(target.length);
  for (let i = 0; i < target.length; i += 1) {
    const x0 = target[i]!;
    const h = 1e-4 * Math.max(1, Math.abs(x0));
    target[i] = x0 + h;
    const up = f(xs);
    target[i] = x0 - h;
    const down = f(xs);
    target[i] = x0;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** Σ a·b in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 1) s += a[i]! * b[i]!;
  return s;
}

/** a + b element-wise (float64). */
export function add(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]!);
}
