/**
 * `vlm-grpo doctor` (`nx run trainer:doctor`): what this machine can run, probed the way training
 * will use it, and what `device: auto` resolves to.
 *
 * - ONNX Runtime (diffusion, CLIP): for each execution provider (`cuda`, `webgpu`, `cpu`) whether
 *   this onnxruntime-node build bundles it, then a session of a small model (the embedded tiny
 *   CLIP image tower) created with that provider alone and run once. `auto` is the first that
 *   runs, in the order cuda → webgpu → cpu (the packages' own order).
 * - WebGPU adapter through the `webgpu` package (Dawn): vendor, architecture, description.
 * - TensorFlow.js (policy): each backend of @vlm-grpo/vlm's `initBackend` (`tensorflow` =
 *   tfjs-node-gpu / tfjs-node, `webgpu`, `wasm`, `cpu`), in its `auto` order.
 * Every probe that fails says why (the first line of the error), so a missing driver, an
 * uninstalled optional package and a provider missing from the build read differently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Ort from 'onnxruntime-node';

/** Result of one probe. */
export interface ProbeResult {
  /** What was probed (`onnxruntime webgpu`, `tfjs wasm`, `webgpu adapter`). */
  name: string;
  /** True when it initialised (and, for ONNX Runtime, ran a model). */
  ok: boolean;
  /** Details when it works (adapter, timing), or why it does not. */
  detail: string;
}

/** The doctor's findings. */
export interface DoctorReport {
  /** Node.js, platform, CPUs, memory. */
  environment: Record<string, string>;
  /** ONNX Runtime execution providers, in `auto` order. */
  onnxruntime: ProbeResult[];
  /** The WebGPU adapter. */
  webgpu: ProbeResult;
  /** TensorFlow.js backends, in `auto` order. */
  tfjs: ProbeResult[];
  /** What `device: auto` picks for ONNX Runtime and `policy_backend: auto` for the policy. */
  auto: { onnxruntime: string; policy: string };
}

/** The model the ONNX Runtime probes run (small, shipped with the repository). */
export const DOCTOR_PROBE_MODEL = fileURLToPath(new URL('../../../../data/models/tiny-clip/onnx/vision_model.onnx', import.meta.url));

const firstLine = (error: unknown): string => {
  const text = (error instanceof Error ? error.message : String(error)).split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown error';
  // ONNX Runtime prefixes its messages with the source location and assertion: keep the sentence
  const adapter = /Failed to get a WebGPU adapter.*$/u.exec(text);
  if (adapter) return adapter[0];
  if (/Cuda.*Failed to load shared library/iu.test(text)) {
    return 'the CUDA provider libraries are not installed (onnxruntime-node downloads them at install time; they need CUDA 12 + cuDNN 9)';
  }
  return text;
};

async function probeOnnxRuntime(provider: 'cuda' | 'webgpu' | 'cpu', modelPath: string): Promise<ProbeResult> {
  const name = `onnxruntime ${provider}`;
  let ort: typeof Ort;
  try {
    ort = await import('onnxruntime-node');
  } catch (error) {
    return { name, ok: false, detail: `onnxruntime-node does not load: ${firstLine(error)}` };
  }
  const listed = (ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.();
  if (listed && !listed.some((backend) => backend.name === provider)) {
    return { name, ok: false, detail: `not in this onnxruntime-node build (it has: ${listed.map((b) => b.name).join(', ')})` };
  }
  if (!existsSync(modelPath)) return { name, ok: false, detail: `probe model missing: ${modelPath}` };
  try {
    const started = performance.now();
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: [provider] });
    const input = session.inputNames[0]!;
    const pixels = new ort.Tensor('float32', new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    await session.run({ [input]: pixels });
    await session.release();
    return { name, ok: true, detail: `session created and ran in ${(performance.now() - started).toFixed(0)} ms` };
  } catch (error) {
    return { name, ok: false, detail: firstLine(error) };
  }
}

async function probeAdapter(): Promise<ProbeResult> {
  const name = 'webgpu adapter';
  try {
    const webgpu = (await import(/* @vite-ignore */ 'webgpu' as string)) as { create(flags: string[]): { requestAdapter(options?: unknown): Promise<unknown> } };
    const adapter = (await webgpu.create([]).requestAdapter({ powerPreference: 'high-performance' })) as {
      info?: { vendor?: string; architecture?: string; description?: string; device?: string };
    } | null;
    if (!adapter) return { name, ok: false, detail: 'requestAdapter() returned null (no Vulkan/Metal/D3D12 driver the adapter can use)' };
    const info = adapter.info ?? {};
    return { name, ok: true, detail: [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || '(unnamed adapter)' };
  } catch (error) {
    return { name, ok: false, detail: `the webgpu package does not load: ${firstLine(error)}` };
  }
}

async function probeTfjs(): Promise<ProbeResult[]> {
  const { AUTO_BACKEND_ORDER, initBackend } = await import('@vlm-grpo/vlm');
  const results: ProbeResult[] = [];
  for (const backend of AUTO_BACKEND_ORDER) {
    try {
      const report = await initBackend(backend);
      results.push({ name: `tfjs ${backend}`, ok: true, detail: report.reason });
    } catch (error) {
      results.push({ name: `tfjs ${backend}`, ok: false, detail: firstLine(error) });
    }
  }
  return results;
}

/** Probe everything (see the file header). `probeModel` defaults to {@link DOCTOR_PROBE_MODEL}. */
export async function runDoctor(options: { probeModel?: string } = {}): Promise<DoctorReport> {
  const os = await import('node:os');
  const modelPath = options.probeModel ?? DOCTOR_PROBE_MODEL;
  const onnxruntime: ProbeResult[] = [];
  for (const provider of ['cuda', 'webgpu', 'cpu'] as const) onnxruntime.push(await probeOnnxRuntime(provider, modelPath));
  const webgpu = await probeAdapter();
  const tfjs = await probeTfjs();
  const pick = (list: ProbeResult[], prefix: string) => list.find((probe) => probe.ok)?.name.slice(prefix.length) ?? 'none';
  return {
    environment: {
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
      memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
      probe_model: join(modelPath),
    },
    onnxruntime,
    webgpu,
    tfjs,
    auto: { onnxruntime: pick(onnxruntime, 'onnxruntime '), policy: pick(tfjs, 'tfjs ') },
  };
}

/** The report as the aligned text the CLI prints. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = ['vlm-grpo doctor', ''];
  for (const [key, value] of Object.entries(report.environment)) lines.push(`  ${key.padEnd(12)} ${value}`);
  const section = (title: string, probes: ProbeResult[]) => {
    lines.push('', title);
    for (const probe of probes) lines.push(`  ${probe.ok ? 'ok  ' : 'no  '} ${probe.name.padEnd(20)} ${probe.detail}`);
  };
  section('ONNX Runtime (diffusion, CLIP), in auto order:', report.onnxruntime);
  section('WebGPU:', [report.webgpu]);
  section('TensorFlow.js (policy), in auto order:', report.tfjs);
  lines.push('', `device auto → ONNX Runtime: ${report.auto.onnxruntime}; policy_backend auto → ${report.auto.policy}`, '');
  return lines.join('\n');
}
