/**
 * `vlm-grpo doctor` (`nx run trainer:doctor`): what this machine can run, probed the way training
 * will use it, and what `device: auto` resolves to. The decisions are `@vlm-grpo/device`'s (the
 * module diffusion, CLIP and the policy use), so the doctor and a run never disagree.
 *
 * - ONNX Runtime (diffusion, CLIP): each execution provider of this platform's `auto` order
 *   (Linux x64 cuda → webgpu → cpu; macOS webgpu → coreml → cpu; else webgpu → cpu). CUDA is
 *   checked from its files (provider installed, every library it links found: a missing one is
 *   named), then, when ready, like the others: a session of a small model (the embedded tiny CLIP
 *   image tower) with that provider alone, run once.
 * - WebGPU adapter (Dawn, probed in a child process): hardware or software (lavapipe,
 *   SwiftShader: `auto` skips those; an explicit `webgpu` uses them).
 * - TensorFlow.js (policy): each backend of @vlm-grpo/vlm's `initBackend` (`tensorflow` =
 *   tfjs-node-gpu / tfjs-node, `webgpu`, `wasm`, `cpu`), in its `auto` order.
 * Every probe that fails says why (the first line of the error), so a missing driver, an
 * uninstalled optional package and a provider missing from the build read differently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cudaProviderStatus,
  describeWebgpuProbe,
  explainCudaFailure,
  onnxAutoOrder,
  planOnnxDevices,
  planPolicyBackends,
  probeWebgpuAdapter,
  type OnnxDevice,
  type WebgpuProbe,
} from '@vlm-grpo/device';
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
  /** What `device: auto` picks for ONNX Runtime and `policy_tfjs_backend: auto` for the tfjs policy engine. */
  auto: { onnxruntime: string; policy: string };
}

/** The model the ONNX Runtime probes run (small, shipped with the repository). */
export const DOCTOR_PROBE_MODEL = fileURLToPath(new URL('../../../../data/models/tiny-clip/onnx/vision_model.onnx', import.meta.url));

const firstLine = (error: unknown): string => {
  const text = (error instanceof Error ? error.message : String(error)).split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown error';
  // ONNX Runtime prefixes its messages with the source location and assertion: keep the sentence
  const adapter = /Failed to get a WebGPU adapter.*$/u.exec(text);
  return adapter ? adapter[0] : text;
};

async function probeOnnxRuntime(provider: OnnxDevice, modelPath: string): Promise<ProbeResult> {
  const name = `onnxruntime ${provider}`;
  if (provider === 'cuda') {
    // From its files first: ONNX Runtime prints a red error of its own when the provider cannot load.
    const status = cudaProviderStatus({ resolveFrom: [import.meta.url] });
    if (!status.ready) return { name, ok: false, detail: status.reason };
  }
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
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: [provider], logSeverityLevel: 3 });
    const input = session.inputNames[0]!;
    const pixels = new ort.Tensor('float32', new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    await session.run({ [input]: pixels });
    await session.release();
    return { name, ok: true, detail: `session created and ran in ${(performance.now() - started).toFixed(0)} ms` };
  } catch (error) {
    return { name, ok: false, detail: provider === 'cuda' ? explainCudaFailure((error as Error)?.message ?? String(error)) : firstLine(error) };
  }
}

function adapterResult(probe: WebgpuProbe): ProbeResult {
  const name = 'webgpu adapter';
  if (probe.status === 'hardware') return { name, ok: true, detail: describeWebgpuProbe(probe) };
  if (probe.status === 'software') return { name, ok: true, detail: `${describeWebgpuProbe(probe)}: auto skips it, --device webgpu uses it` };
  return { name, ok: false, detail: probe.reason };
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
  const adapter = await probeWebgpuAdapter();
  const onnxruntime: ProbeResult[] = [];
  for (const provider of onnxAutoOrder(process.platform, process.arch)) onnxruntime.push(await probeOnnxRuntime(provider, modelPath));
  const tfjs = await probeTfjs();
  // auto = the first provider / backend the shared plan keeps and the probe ran
  const host = { platform: process.platform, arch: process.arch, cuda: () => cudaProviderStatus({ resolveFrom: [import.meta.url] }), webgpu: async () => adapter };
  const onnxPlan = await planOnnxDevices('auto', host);
  const policyPlan = await planPolicyBackends('auto', host);
  const pick = (plan: { device: string; skip?: string }[], probes: ProbeResult[], prefix: string) =>
    plan.find((candidate) => candidate.skip === undefined && probes.find((probe) => probe.name === `${prefix}${candidate.device}`)?.ok)?.device ?? 'none';
  return {
    environment: {
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
      memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
      probe_model: join(modelPath),
    },
    onnxruntime,
    webgpu: adapterResult(adapter),
    tfjs,
    auto: { onnxruntime: pick(onnxPlan, onnxruntime, 'onnxruntime '), policy: pick(policyPlan, tfjs, 'tfjs ') },
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
  lines.push('', `device auto → ONNX Runtime: ${report.auto.onnxruntime}; policy_tfjs_backend auto → ${report.auto.policy}`, '');
  return lines.join('\n');
}
