/**
 * ONNX Runtime sessions for the pipeline components: device selection with logged fallback, and
 * tensors built from each session's `inputMetadata` (dtype and shape), so one code path feeds
 * every exporter: int32 or int64 ids; timestep as a scalar, `[1]`, `[batch]`, float32, float16 or
 * int64; float16 or float32 latents. onnxruntime-node is imported lazily on first use.
 *
 * The provider order and the hardware-only rule of `auto` are `@vlm-grpo/device`'s, shared with
 * CLIP, the policy and the trainer's doctor: Linux x64 `cuda` (only when its provider and
 * libraries are installed) → `webgpu` (hardware adapters only) → `cpu`; macOS `webgpu` (Metal) →
 * `coreml` → `cpu`. An explicit `webgpu` takes any adapter. Sessions log at ONNX Runtime's
 * `error` level unless `sessionOptions.logSeverityLevel` says otherwise (its per-node placement
 * warnings are noise for users).
 */
import { cudaProviderStatus, defaultOnnxHost, explainCudaFailure, firstLine, planOnnxDevices, selectDevice, type DeviceDecision } from '@vlm-grpo/device';
import type * as OrtNamespace from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { SdError } from './errors.js';
import { uploadToGpu } from './gpu-resident.js';
import { fromFloat16, toFloat16 } from './numeric.js';
import { createPortableSession } from './portable-onnx-model.js';

/**
 * Execution device. `auto` tries, on Linux x64, CUDA (when its provider is installed) → WebGPU
 * (hardware adapters only) → CPU; on macOS WebGPU (Metal) → Core ML → CPU; elsewhere WebGPU → CPU.
 */
export type Device = 'cpu' | 'webgpu' | 'cuda' | 'coreml' | 'auto';

/** Receives progress and fallback messages. */
export type Logger = (level: 'info' | 'warn', message: string) => void;

/** Session settings shared by every component. */
export interface SessionSettings {
  /** Execution device (default: `'cpu'`). */
  device?: Device;
  /**
   * When the requested device cannot be initialised, fall back to CPU with a logged warning
   * (default: true). With false, SD_DEVICE_UNAVAILABLE is thrown instead.
   */
  fallbackToCpu?: boolean;
  /** Threads per session on CPU (default: ONNX Runtime's choice). */
  intraOpNumThreads?: number;
  /** ONNX Runtime graph optimisation level (default: `'all'`). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Options of ONNX Runtime's WebGPU execution provider (default: ORT's). `preferredLayout`
   * (`'NCHW'`, ORT's default, or `'NHWC'`): the layout of layout-sensitive operators (Conv,
   * pooling, resize); NHWC inserts transposes at the graph edges and suits some GPUs' convolution
   * kernels better (`tools/bench/unet-webgpu.mjs` measures both). `validationMode` and the
   * buffer cache modes are passed through as ORT documents them.
   */
  webgpuOptions?: {
    preferredLayout?: 'NCHW' | 'NHWC';
    validationMode?: 'disabled' | 'wgpuOnly' | 'basic' | 'full';
    storageBufferCacheMode?: 'disabled' | 'lazyRelease' | 'simple' | 'bucket';
  };
  /**
   * Fuse the spelled-out attention of plain exports (Optimum, `torch.onnx.export`: 13 nodes per
   * attention, the full score matrix in memory) into ONNX Runtime's `MultiHeadAttention`, whose
   * WebGPU kernel is a flash attention, in a rewritten copy of the graph written once beside the
   * model (see the README, "Rewritten copies"). Default `'auto'`: on WebGPU and the CPU (on the
   * CPU measured never slower, 24 % faster for a UNet step at 64×64 latents, batch 8); not on CUDA
   * or Core ML until measured there.
   */
  fuseAttention?: boolean | 'auto';
  /** Extra ONNX Runtime session options merged last (advanced; onnxruntime-node's `InferenceSession.SessionOptions`). */
  sessionOptions?: Readonly<Record<string, unknown>>;
  /**
   * Log sink (default: warnings to `console.warn`, info dropped). Receives one `info` line per
   * component's device decision (`diffusion unet: cpu (auto; not cuda: …, webgpu: …)`), then one
   * with every reason, and a `warn` line when an explicitly requested device fell back to CPU.
   */
  logger?: Logger;
}

/** Shape entry of a tensor input: a number or a symbolic dimension name. */
export type Dim = number | string;

/** What a session declares about one tensor input or output. */
export interface TensorInfo {
  name: string;
  type: OrtTensorType;
  shape: readonly Dim[];
}

/** Element type of an ONNX Runtime tensor (onnxruntime's `Tensor.Type`). */
export type OrtTensorType = 'string' | 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'uint4' | 'int4';

/**
 * An onnxruntime-node tensor as this package hands it around. Structural on purpose: onnxruntime's
 * own declarations need the DOM lib (`ImageData`, `WebGLTexture`), and a Node.js project that
 * compiles against this package with `skipLibCheck: false` must not have to add it.
 */
export interface OrtTensor {
  /** Element type. */
  readonly type: OrtTensorType;
  /** Shape. */
  readonly dims: readonly number[];
  /** Host data (a typed array; absent access throws for GPU-resident tensors). */
  readonly data: unknown;
  /** `cpu`, `gpu-buffer`, … */
  readonly location?: string;
  /** Release the tensor (a GPU-resident one frees its buffer). */
  dispose(): void;
}

/** Typed arrays a tensor is built from. */
export type OrtTensorData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** The part of the onnxruntime-node module this package's tensor builders and callers use. */
export interface OrtModuleLike {
  /** `new ort.Tensor(type, data, dims)`. */
  Tensor: new (type: OrtTensorType, data: OrtTensorData, dims: readonly number[]) => OrtTensor;
  /** The execution providers of this build. */
  listSupportedBackends: () => { name: string; bundled: boolean }[];
}

type OrtModule = typeof OrtNamespace;
let ortPromise: Promise<OrtModule> | undefined;

function loadOrtModule(): Promise<OrtModule> {
  ortPromise ??= import('onnxruntime-node').then((m) => ((m as unknown as { default?: OrtModule }).default ?? m) as OrtModule);
  return ortPromise;
}

/** The lazily imported onnxruntime-node module (typed structurally, see {@link OrtTensor}). */
export async function loadOrt(): Promise<OrtModuleLike> {
  return (await loadOrtModule()) as unknown as OrtModuleLike;
}

/** Default logger: warnings to stderr. */
export const defaultLogger: Logger = (level, message) => {
  if (level === 'warn') console.warn(`[@vlm-grpo/sd] ${message}`);
};

function providersFor(device: Exclude<Device, 'auto'>, settings: SessionSettings = {}): InferenceSession.ExecutionProviderConfig[] {
  if (device === 'webgpu' && settings.webgpuOptions && Object.keys(settings.webgpuOptions).length > 0) {
    return [{ name: 'webgpu', ...settings.webgpuOptions }, 'cpu'];
  }
  return device === 'cpu' ? ['cpu'] : [device, 'cpu'];
}

/** Devices already decided by `auto`, per settings object and component (memory-efficient pipelines reload components). */
const decided = new WeakMap<SessionSettings, Map<string, Exclude<Device, 'auto'>>>();

/** Model-file problems: no device would load the file, so the search stops. */
const INVALID_MODEL = /protobuf|parse|Load model|invalid model|No such file/iu;

/** One loaded ONNX model. */
export class OnnxModel {
  /** Component name (e.g. `unet`), used in messages. */
  readonly component: string;
  /** The device the session actually runs on. */
  readonly device: Exclude<Device, 'auto'>;
  /** Declared inputs by name. */
  readonly inputs: ReadonlyMap<string, TensorInfo>;
  /** Declared outputs by name, in order. */
  readonly outputs: readonly TensorInfo[];
  private session: InferenceSession | undefined;
  private readonly ort: OrtModule;
  private readonly ortLike: OrtModuleLike;

  private constructor(component: string, device: Exclude<Device, 'auto'>, session: InferenceSession, ort: OrtModule) {
    this.component = component;
    this.device = device;
    this.session = session;
    this.ort = ort;
    this.ortLike = ort as unknown as OrtModuleLike;
    const meta = (list: readonly InferenceSession.ValueMetadata[]): TensorInfo[] =>
      list.filter((m): m is InferenceSession.ValueMetadata & { isTensor: true } => m.isTensor).map((m) => ({
        name: m.name,
        type: m.type,
        shape: m.shape,
      }));
    this.inputs = new Map(meta(session.inputMetadata).map((m) => [m.name, m]));
    this.outputs = meta(session.outputMetadata);
  }

  /** How the device was chosen (set when `auto` or a fallback decided; see {@link SessionSettings.logger}). */
  decision: DeviceDecision<Exclude<Device, 'auto'>> | undefined;

  /** Create a session for `path`, trying the requested device and falling back as configured. */
  static async load(path: string, component: string, settings: SessionSettings = {}): Promise<OnnxModel> {
    const ort = await loadOrtModule();
    const logger = settings.logger ?? defaultLogger;
    const requested = settings.device ?? 'cpu';
    const known = requested === 'auto' ? decided.get(settings)?.get(component) : undefined;
    const listed = (ort as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.();
    const host = defaultOnnxHost({ ...(listed ? { backends: listed } : {}), resolveFrom: [import.meta.url] });
    let candidates;
    try {
      candidates = known ? [{ device: known }] : await planOnnxDevices(requested, host, { fallbackToCpu: settings.fallbackToCpu ?? true });
    } catch (cause) {
      throw new SdError('SD_INVALID_ARGUMENT', `${component}: ${(cause as Error).message}`, { cause });
    }
    const deferredNotes = new Map<Exclude<Device, 'auto'>, [level: 'info' | 'warn', message: string][]>();
    let result;
    try {
      result = await selectDevice({
        what: `diffusion ${component}`,
        requested,
        candidates,
        attempt: async (device: Exclude<Device, 'auto'>) => {
          const options: InferenceSession.SessionOptions = {
            executionProviders: providersFor(device, settings),
            graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
            // A CUDA attempt under auto is a probe: its failure is reported in the decision line, so
            // ONNX Runtime's own red error line for it is silenced (fatal only).
            logSeverityLevel: device === 'cuda' && requested === 'auto' ? 4 : 3,
            ...(settings.intraOpNumThreads ? { intraOpNumThreads: settings.intraOpNumThreads } : {}),
            ...(settings.sessionOptions as InferenceSession.SessionOptions | undefined),
          };
          const fuseAttention = settings.fuseAttention === 'auto' || settings.fuseAttention === undefined ? device === 'webgpu' || device === 'cpu' : settings.fuseAttention;
          // The rewritten-copy line is logged after the device decision, for the device picked.
          const notes: [level: 'info' | 'warn', message: string][] = [];
          deferredNotes.set(device, notes);
          const session = await createPortableSession((file) => ort.InferenceSession.create(file, options), path, component, device, (level, message) => notes.push([level, message]), { fuseAttention });
          return { value: session, detail: device === 'cuda' ? cudaProviderStatus({ resolveFrom: [import.meta.url] }).reason : device };
        },
        isFatal: (error, device) => device === 'cpu' && INVALID_MODEL.test(firstLine(error)),
        explainFailure: (error, device) => (device === 'cuda' ? explainCudaFailure((error as Error)?.message ?? String(error)) : firstLine(error)),
      });
    } catch (cause) {
      const attempts = (cause as { attempts?: { device: string; reason: string }[] }).attempts;
      if (!attempts) throw new SdError('SD_INVALID_MODEL', `${component}: cannot load ${path}: ${(cause as Error).message}`, { cause });
      throw new SdError(
        'SD_DEVICE_UNAVAILABLE',
        `${component}: no usable device for ${path}: ${attempts.map((attempt) => `${attempt.device} unavailable: ${attempt.reason}`).join('; ')}`,
        { cause },
      );
    }
    const { device, decision, value: session } = result;
    if (requested === 'auto') {
      if (!known) {
        const perComponent = decided.get(settings) ?? new Map<string, Exclude<Device, 'auto'>>();
        perComponent.set(component, device);
        decided.set(settings, perComponent);
        logger('info', decision.summary);
        logger('info', `details: ${decision.detail}`);
      }
    } else if (device !== requested) {
      const failed = decision.attempts.filter((attempt) => attempt.outcome !== 'picked');
      logger('warn', `${component}: using ${device} (${failed.map((attempt) => `${attempt.device} unavailable: ${attempt.reason}`).join('; ')})`);
    }
    for (const [level, message] of deferredNotes.get(device) ?? []) logger(level, message);
    const model = new OnnxModel(component, device, session, ort);
    model.decision = known ? undefined : decision;
    return model;
  }

  /** Declared info of an input, or undefined. */
  input(name: string): TensorInfo | undefined {
    return this.inputs.get(name);
  }

  /** Float tensor (float32 data) in the dtype the input declares (float32/float16/double). */
  floatTensor(name: string, data: Float32Array, dims: readonly number[]): OrtTensor {
    return buildFloatTensor(this.ortLike, this.component, this.requireInput(name), data, dims);
  }

  /**
   * {@link floatTensor} for repeated use across runs: on WebGPU a GPU-resident copy (uploaded
   * once, see `gpu-resident.ts`), on other devices the host tensor. Dispose it when done.
   */
  async residentFloatTensor(name: string, data: Float32Array, dims: readonly number[]): Promise<OrtTensor> {
    const host = this.floatTensor(name, data, dims);
    return this.device === 'webgpu' ? ((await uploadToGpu(this.ort, host as Tensor)) as OrtTensor) : host;
  }

  /** Integer ids [batch, seq] in the declared int32/int64 dtype. */
  idsTensor(name: string, ids: readonly number[][]): OrtTensor {
    return buildIdsTensor(this.ortLike, this.component, this.requireInput(name), ids);
  }

  /** The timestep input built from its declaration (see {@link buildTimestepTensor}). */
  timestepTensor(name: string, t: number, batch: number): OrtTensor {
    return buildTimestepTensor(this.ortLike, this.component, this.requireInput(name), t, batch);
  }

  /** Run and return the requested outputs as float32 arrays with their dims. */
  async run(
    feeds: Record<string, OrtTensor>,
    outputNames?: readonly string[],
  ): Promise<Map<string, { data: Float32Array; dims: number[] }>> {
    const session = this.session;
    if (!session) throw new SdError('SD_RELEASED', `${this.component}: session already released`);
    for (const name of this.inputs.keys()) {
      if (!(name in feeds)) {
        throw new SdError('SD_INVALID_MODEL', `${this.component}: model input "${name}" is not one this pipeline can feed`);
      }
    }
    let results: InferenceSession.ReturnType;
    try {
      const ortFeeds = feeds as unknown as Record<string, Tensor>;
      results = outputNames ? await session.run(ortFeeds, outputNames as string[]) : await session.run(ortFeeds);
    } catch (cause) {
      throw new SdError('SD_INFERENCE_FAILED', `${this.component}: inference failed: ${(cause as Error).message}`, { cause });
    }
    const out = new Map<string, { data: Float32Array; dims: number[] }>();
    for (const [name, tensor] of Object.entries(results)) {
      const raw = tensor.data;
      let data: Float32Array;
      if (raw instanceof Uint16Array && tensor.type === 'float16') data = fromFloat16(raw);
      else if (raw instanceof Float32Array) data = raw;
      else data = Float32Array.from(raw as ArrayLike<number>);
      out.set(name, { data, dims: [...tensor.dims] });
      tensor.dispose?.();
    }
    return out;
  }

  /**
   * Run with the outputs written into pre-allocated tensors (IO binding): on WebGPU, GPU-resident
   * `outputs` (see `gpu-resident.ts`) receive the results and nothing is read back. Inputs may be
   * host or GPU tensors. The tensors ONNX Runtime returns are views of `outputs` and are not kept.
   */
  async runInto(feeds: Record<string, OrtTensor>, outputs: Record<string, OrtTensor>): Promise<void> {
    const session = this.session;
    if (!session) throw new SdError('SD_RELEASED', `${this.component}: session already released`);
    for (const name of this.inputs.keys()) {
      if (!(name in feeds)) {
        throw new SdError('SD_INVALID_MODEL', `${this.component}: model input "${name}" is not one this pipeline can feed`);
      }
    }
    try {
      await session.run(feeds as unknown as Record<string, Tensor>, outputs as unknown as Record<string, Tensor>);
    } catch (cause) {
      throw new SdError('SD_INFERENCE_FAILED', `${this.component}: inference failed: ${(cause as Error).message}`, { cause });
    }
  }

  /** Release the native session (idempotent). */
  async dispose(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.release();
  }

  /** @deprecated Use {@link dispose} (the name every package of this project uses). */
  async release(): Promise<void> {
    await this.dispose();
  }

  private requireInput(name: string): TensorInfo {
    const info = this.inputs.get(name);
    if (!info) {
      throw new SdError(
        'SD_INVALID_MODEL',
        `${this.component}: no input named "${name}" (inputs: ${[...this.inputs.keys()].join(', ')})`,
      );
    }
    return info;
  }
}

/** Float tensor (float32 data) in the dtype `info` declares: float32, float16 (bits) or float64. */
export function buildFloatTensor(ort: OrtModuleLike, component: string, info: TensorInfo, data: Float32Array, dims: readonly number[]): OrtTensor {
  if (info.type === 'float16') return new ort.Tensor('float16', toFloat16(data), dims);
  if (info.type === 'float64') return new ort.Tensor('float64', Float64Array.from(data), dims);
  if (info.type !== 'float32') {
    throw new SdError('SD_INVALID_MODEL', `${component}: input ${info.name} has type ${info.type}, expected a float type`);
  }
  return new ort.Tensor('float32', data, dims);
}

/** Integer ids [batch, seq] in the int32/int64 dtype `info` declares. */
export function buildIdsTensor(ort: OrtModuleLike, component: string, info: TensorInfo, ids: readonly number[][]): OrtTensor {
  const flat = ids.flat();
  const dims = [ids.length, ids[0]?.length ?? 0];
  if (info.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(flat, BigInt), dims);
  if (info.type === 'int32') return new ort.Tensor('int32', Int32Array.from(flat), dims);
  throw new SdError('SD_INVALID_MODEL', `${component}: input ${info.name} has type ${info.type}, expected int32/int64`);
}

/**
 * The timestep tensor from its declaration: rank 0 → scalar; rank 1 with a fixed size → that many
 * copies; rank 1 symbolic → `batch` copies. Integer types truncate fractional timesteps, as
 * diffusers' ONNX pipeline does (`np.array([t], dtype=int64)`).
 */
export function buildTimestepTensor(ort: OrtModuleLike, component: string, info: TensorInfo, t: number, batch: number): OrtTensor {
  const rank = info.shape.length;
  const first = info.shape[0];
  const count = rank === 0 ? 1 : typeof first === 'number' && first > 0 ? first : batch;
  const dims = rank === 0 ? [] : [count];
  switch (info.type) {
    case 'int64':
      return new ort.Tensor('int64', new BigInt64Array(count).fill(BigInt(Math.trunc(t))), dims);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(count).fill(Math.trunc(t)), dims);
    case 'float16':
      return new ort.Tensor('float16', toFloat16(new Float32Array(count).fill(t)), dims);
    case 'float64':
      return new ort.Tensor('float64', new Float64Array(count).fill(t), dims);
    case 'float32':
      return new ort.Tensor('float32', new Float32Array(count).fill(t), dims);
    default:
      throw new SdError('SD_INVALID_MODEL', `${component}: timestep input ${info.name} has unsupported type ${info.type}`);
  }
}
