/**
 * The WebGPU context every kernel launcher works in: device acquisition (the `webgpu` npm package,
 * Dawn, imported lazily; or a caller's `GPUDevice`), a pipeline cache keyed by WGSL source,
 * buffer helpers, and recorded command lists.
 *
 * Launchers do not execute anything: they return {@link Command}s (a dispatch with its bind group
 * and workgroup counts, a buffer copy or a buffer clear), built once per shape. The engine keeps
 * those lists and replays them into one command encoder per forward, backward or optimizer step
 * ({@link GpuContext.submit}); values that change between replays (learning rate, temperature,
 * step count) live in small uniform buffers rewritten with `queue.writeBuffer` before the submit.
 */
import { PolicyWebGpuError } from './errors.js';

/** A byte range of a buffer bound to one binding (offset a multiple of 256, as WebGPU requires). */
export interface Slice {
  /** The buffer. */
  buffer: GPUBuffer;
  /** Byte offset (default: 0). */
  offset?: number;
  /** Byte size (default: the rest of the buffer). */
  size?: number;
}

/** One recorded GPU command. */
export type Command =
  | { kind: 'dispatch'; label: string; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; workgroups: [number, number, number] }
  | { kind: 'copy'; label: string; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'clear'; label: string; buffer: GPUBuffer; offset: number; size: number };

/** A scalar field of a uniform block: unsigned, signed or float, 4 bytes each. */
export type UniformField = ['u32' | 'i32' | 'f32', number];

/** Options of {@link createGpuContext}. */
export interface GpuContextOptions {
  /** Use this device instead of requesting one (default: request one from the `webgpu` package). */
  device?: GPUDevice;
  /** Arguments of the `webgpu` package's `create` (default: none). */
  dawnFlags?: string[];
  /** Request timestamp queries when the adapter has them (default: false). */
  timestamps?: boolean;
  /** Accept software adapters such as lavapipe/llvmpipe (default: true). */
  allowSoftware?: boolean;
  /**
   * Offer Dawn's experimental subgroup matrices (tensor cores) to the f16 matmuls of
   * kernels/matmul-f16.ts: the instance is created with `enable-dawn-features=allow_unsafe_apis`
   * (added to `dawnFlags`), and where the adapter then lists `chromium-experimental-subgroup-matrix`
   * the device gets it with `subgroups` and `shader-f16`. Adapters without it (lavapipe) get the
   * same features as without this option (default: true).
   */
  subgroupMatrix?: boolean;
}

/** Workgroup size of the element-wise kernels. */
export const WG = 256;

/** Rounds `n` up to a multiple of `m`. */
export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * A 2-D grid of `WG`-thread workgroups covering `n` threads (WebGPU allows at most 65,535
 * workgroups per dimension). Kernels compute their linear id as `(wid.y * nx + wid.x) * WG + lid`
 * where nx is the grid's x size, passed in `p.nx`.
 */
export function grid(n: number, perGroup = WG): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/** Workgroups for one workgroup per row (rows beyond 65,535 spill into y). */
export function rowGroups(rows: number): [number, number, number] {
  return rows <= 65535 ? [rows, 1, 1] : [65535, Math.ceil(rows / 65535), 1];
}

/** A device plus its pipeline cache and helpers; one per GPUDevice, shared by engines and clones. */
export class GpuContext {
  /** The device. */
  readonly device: GPUDevice;
  /** Adapter description (vendor, architecture, device, description), when known. */
  readonly adapterInfo: string;
  /** The adapter has `shader-f16` (and the device was created with it). */
  readonly hasF16: boolean;
  /** Timestamp queries were requested and granted. */
  readonly hasTimestamps: boolean;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Buffers created while {@link track} runs (null outside it). */
  private tracked: GPUBuffer[] | null = null;

  constructor(device: GPUDevice, adapterInfo = '') {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.hasF16 = device.features.has('shader-f16');
    this.hasTimestamps = device.features.has('timestamp-query');
  }

  /** Compiled pipeline for a WGSL module with entry point `main` (cached by source text). */
  pipeline(label: string, code: string): GPUComputePipeline {
    const cached = this.pipelines.get(code);
    if (cached) return cached;
    const module = this.device.createShaderModule({ label, code });
    const pipeline = this.device.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
    this.pipelines.set(code, pipeline);
    return pipeline;
  }

  /**
   * Run `build` and return what it returned plus every buffer created meanwhile (storage and
   * uniform), so their owner (a per-shape plan) can destroy them together.
   */
  track<T>(build: () => T): { value: T; buffers: GPUBuffer[] } {
    const previous = this.tracked;
    const buffers: GPUBuffer[] = [];
    this.tracked = buffers;
    try {
      return { value: build(), buffers };
    } finally {
      this.tracked = previous;
    }
  }

  /** A storage buffer of `bytes` (rounded up to 16), usable as copy source and destination. */
  buffer(label: string, bytes: number): GPUBuffer {
    const buffer = this.device.createBuffer({
      label,
      size: Math.max(16, roundUp(bytes, 16)),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.tracked?.push(buffer);
    return buffer;
  }

  /** A storage buffer holding `data`. */
  upload(label: string, data: Float32Array | Uint32Array | Int32Array): GPUBuffer {
    const buffer = this.buffer(label, data.byteLength);
    this.write(buffer, data);
    return buffer;
  }

  /** Write `data` at byte `offset` of `buffer` (queued; ordered before later submits). */
  write(buffer: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, offset = 0): void {
    if (data.byteLength === 0) return;
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** A uniform buffer holding the fields (each 4 bytes, in order; the WGSL struct must match). */
  uniform(label: string, fields: readonly UniformField[]): GPUBuffer {
    const buffer = this.device.createBuffer({
      label,
      size: roundUp(Math.max(16, fields.length * 4), 16),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.tracked?.push(buffer);
    this.writeUniform(buffer, fields);
    return buffer;
  }

  /** Rewrite a uniform buffer made by {@link uniform}. */
  writeUniform(buffer: GPUBuffer, fields: readonly UniformField[]): void {
    const bytes = new ArrayBuffer(roundUp(Math.max(16, fields.length * 4), 16));
    const view = new DataView(bytes);
    fields.forEach(([type, value], i) => {
      if (type === 'f32') view.setFloat32(i * 4, value, true);
      else if (type === 'i32') view.setInt32(i * 4, value, true);
      else view.setUint32(i * 4, value, true);
    });
    this.device.queue.writeBuffer(buffer, 0, bytes);
  }

  /** A dispatch command: binding i of group 0 gets `bindings[i]` (a uniform or storage slice). */
  dispatch(label: string, pipeline: GPUComputePipeline, bindings: readonly (GPUBuffer | Slice)[], workgroups: [number, number, number]): Command {
    const entries = bindings.map((binding, i) => {
      const slice: Slice = 'buffer' in binding ? binding : { buffer: binding };
      return {
        binding: i,
        resource: { buffer: slice.buffer, offset: slice.offset ?? 0, ...(slice.size !== undefined ? { size: slice.size } : {}) },
      };
    });
    const bindGroup = this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    return { kind: 'dispatch', label, pipeline, bindGroup, workgroups };
  }

  /**
   * Encode `commands` into one command encoder (compute passes split only around copies and
   * clears) and submit it. With `timestamps` (a {@link TimestampProfiler}), each dispatch gets its
   * own pass with timestamp writes.
   */
  submit(commands: readonly Command[], profiler?: TimestampProfiler): void {
    const encoder = this.device.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    const end = (): void => {
      pass?.end();
      pass = null;
    };
    for (const command of commands) {
      if (command.kind === 'dispatch') {
        if (profiler) {
          end();
          const p = encoder.beginComputePass({ timestampWrites: profiler.next(command.label) });
          p.setPipeline(command.pipeline);
          p.setBindGroup(0, command.bindGroup);
          p.dispatchWorkgroups(...command.workgroups);
          p.end();
          continue;
        }
        pass ??= encoder.beginComputePass();
        pass.setPipeline(command.pipeline);
        pass.setBindGroup(0, command.bindGroup);
        pass.dispatchWorkgroups(...command.workgroups);
      } else if (command.kind === 'copy') {
        end();
        if (command.size > 0) encoder.copyBufferToBuffer(command.src, command.srcOffset, command.dst, command.dstOffset, command.size);
      } else {
        end();
        if (command.size > 0) encoder.clearBuffer(command.buffer, command.offset, command.size);
      }
    }
    end();
    profiler?.resolve(encoder);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Read `bytes` bytes at `offset` of `buffer` back to the host (waits for queued work). */
  async read(buffer: GPUBuffer, bytes = buffer.size, offset = 0): Promise<ArrayBuffer> {
    const size = roundUp(bytes, 4);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return copy;
  }

  /** Read `count` float32 values starting at element `offset`. */
  async readF32(buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, count * 4, offset * 4));
  }
}

/** Collects per-dispatch GPU times with timestamp queries (for the benchmark's profile). */
export class TimestampProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly labels: string[] = [];
  private readonly capacity: number;
  private readonly device: GPUDevice;

  constructor(context: GpuContext, capacity = 2048) {
    if (!context.hasTimestamps) throw new PolicyWebGpuError('WEBGPU_NO_TIMESTAMPS', 'the device was created without timestamp-query');
    this.device = context.device;
    this.capacity = capacity;
    this.querySet = this.device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
    this.resolveBuffer = this.device.createBuffer({ size: capacity * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  /** Timestamp writes of the next dispatch. */
  next(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.length;
    if (i >= this.capacity) throw new PolicyWebGpuError('WEBGPU_NO_TIMESTAMPS', `more than ${this.capacity} profiled dispatches`);
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Resolve the queries of this encoder (called by `submit`). */
  resolve(encoder: GPUCommandEncoder): void {
    if (this.labels.length > 0) encoder.resolveQuerySet(this.querySet, 0, this.labels.length * 2, this.resolveBuffer, 0);
  }

  /** Per-label total GPU milliseconds and dispatch counts of everything recorded; resets the profiler. */
  async collect(): Promise<Map<string, { ms: number; count: number }>> {
    const n = this.labels.length;
    const out = new Map<string, { ms: number; count: number }>();
    if (n === 0) return out;
    const staging = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, n * 16);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const times = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    this.labels.forEach((label, i) => {
      const ms = Number(times[2 * i + 1]! - times[2 * i]!) / 1e6;
      const entry = out.get(label) ?? { ms: 0, count: 0 };
      entry.ms += ms;
      entry.count += 1;
      out.set(label, entry);
    });
    this.labels.length = 0;
    return out;
  }

  /** Free the query set and buffers. */
  dispose(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

/**
 * The `GPU` instances created here. dawn.node frees the native instance when its JS object is
 * garbage-collected, even while devices made from it are alive (measured: a later GC then
 * corrupts the device's mutexes and the process aborts or hangs), so they are kept for the life
 * of the process.
 */
const liveInstances: GPU[] = [];

/** `flags` with `toggle` added to their `enable-dawn-features=` list (one such flag; Dawn keeps the last). */
export function withDawnFeature(flags: readonly string[], feature: string): string[] {
  const [key, toggle] = feature.split('=') as [string, string];
  const at = flags.findIndex((flag) => flag.startsWith(`${key}=`));
  if (at < 0) return [...flags, feature];
  if (flags[at]!.slice(key.length + 1).split(',').includes(toggle)) return [...flags];
  return flags.map((flag, i) => (i === at ? `${flag},${toggle}` : flag));
}

/**
 * Request a WebGPU device: the `webgpu` npm package (Dawn) is imported here, lazily, and its
 * globals installed; the device gets the adapter's largest buffer limits, `shader-f16` /
 * `timestamp-query` when offered, and (option `subgroupMatrix`, default on) Dawn's experimental
 * subgroup matrices where the adapter has them. Throws `WEBGPU_UNAVAILABLE` with the reason when
 * no adapter initialises.
 */
export async function createGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  if (options.device) return new GpuContext(options.device);
  // imported here, not at the top: matmul-f16.ts imports this module's values through cast-f16.ts
  const { registerAdapterInfo, SUBGROUP_MATRIX_DAWN_FLAG, SUBGROUP_MATRIX_FEATURE, subgroupMatrixFeatures } = await import('./kernels/matmul-f16.js');
  const subgroupMatrix = options.subgroupMatrix !== false;
  let gpu: GPU;
  try {
    const dawn = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals);
    const flags = options.dawnFlags ?? [];
    gpu = dawn.create(subgroupMatrix ? withDawnFeature(flags, SUBGROUP_MATRIX_DAWN_FLAG) : [...flags]);
    liveInstances.push(gpu);
  } catch (error) {
    throw new PolicyWebGpuError('WEBGPU_UNAVAILABLE', `the "webgpu" package could not be loaded (${(error as Error).message}); install it: npm install webgpu`, {
      cause: error,
    });
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new PolicyWebGpuError(
      'WEBGPU_UNAVAILABLE',
      'no WebGPU adapter: install a Vulkan driver (on a machine without a GPU: Mesa lavapipe, VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json)',
    );
  }
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  if (options.allowSoftware === false && /llvmpipe|lavapipe|swiftshader/iu.test(description)) {
    throw new PolicyWebGpuError('WEBGPU_UNAVAILABLE', `the only adapter is a software one (${description})`);
  }
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('shader-f16')) features.push('shader-f16');
  if (options.timestamps && adapter.features.has('timestamp-query')) features.push('timestamp-query');
  if (subgroupMatrix) for (const feature of subgroupMatrixFeatures(adapter)) if (!features.includes(feature)) features.push(feature);
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  });
  // matmul-f16.ts reads the subgroup-matrix configurations from adapter.info: Dawn's device.adapterInfo lists none
  if (features.includes(SUBGROUP_MATRIX_FEATURE as GPUFeatureName)) registerAdapterInfo(device, adapter.info);
  void device.lost.then((lost) => {
    if (lost.reason !== 'destroyed') console.error(`WebGPU device lost (${description}): ${lost.message}`);
  });
  device.addEventListener('uncapturederror', (event) => {
    // Validation errors are programming errors: make them loud.
    console.error(`WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  return new GpuContext(device, description);
}
