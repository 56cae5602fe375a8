/**
 * Is there a WebGPU adapter, and is it hardware? Asked through the `webgpu` npm package (Dawn,
 * the same WebGPU implementation and drivers ONNX Runtime's WebGPU EP uses) in a child Node.js
 * process, for two reasons: Dawn writes its driver warnings (e.g. lavapipe's
 * `maxDynamicUniformBuffersPerPipelineLayout artificially reduced`) straight to file descriptor 2
 * from native code, where no JavaScript can filter them; and a broken driver can crash the
 * process that loads it. The child's stderr is kept in the result (for DEBUG logs) instead.
 *
 * The answer is cached per process and per set of Dawn flags: every package that asks (the
 * policy backend, diffusion, CLIP, the doctor) shares one probe, ~0.3 s.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { classifyAdapter, type AdapterInfoLike } from './adapter.js';

/** Outcome of {@link probeWebgpuAdapter}. */
export type WebgpuProbe =
  | {
      /** `hardware`: a GPU adapter; `software`: a CPU rasteriser (lavapipe, SwiftShader, WARP). */
      status: 'hardware' | 'software';
      /** Adapter name (vendor, architecture, description). */
      label: string;
      /** The signal that classified it (see `classifyAdapter`). */
      reason: string;
      /** The adapter's info fields. */
      info: AdapterInfoLike;
      /** What Dawn printed on stderr while probing (driver warnings), for DEBUG logs. */
      stderr: string;
    }
  | {
      /** `none`: Dawn found no adapter; `unavailable`: the probe could not run (package missing, crash). */
      status: 'none' | 'unavailable';
      /** Why, in one sentence. */
      reason: string;
      /** What the probe printed on stderr, for DEBUG logs. */
      stderr: string;
    };

/** What a probe runner returns: the child's exit status and output. */
export interface ProbeRunResult {
  /** Exit status (null when killed). */
  status: number | null;
  /** Standard output (one JSON line on success). */
  stdout: string;
  /** Standard error (Dawn's warnings). */
  stderr: string;
}

/** Options of {@link probeWebgpuAdapter}. */
export interface WebgpuProbeOptions {
  /** Dawn flags passed to `webgpu.create()` (default: `[]`). */
  flags?: readonly string[];
  /**
   * Where to resolve the `webgpu` package from: file URLs or paths of modules or folders (default:
   * this package, then the working directory).
   */
  resolveFrom?: readonly string[];
  /** Give up after this many milliseconds (default: 20000). */
  timeoutMs?: number;
  /** Runs the probe script (tests pass a stub; default: a child `node` process). */
  runner?: (script: string, args: readonly string[], timeoutMs: number) => Promise<ProbeRunResult>;
  /** Ignore the per-process cache (default: false). */
  fresh?: boolean;
}

/** The probe script, run as an ES module: `node --input-type=module -e SCRIPT <webgpu url> <flags json>`. */
export const WEBGPU_PROBE_SCRIPT = `
const [url, flagsJson] = process.argv.slice(1);
const webgpu = await import(url);
const gpu = webgpu.create(JSON.parse(flagsJson));
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const pick = (o) => o ? { vendor: o.vendor, architecture: o.architecture, device: o.device, description: o.description, isFallbackAdapter: o.isFallbackAdapter, adapterType: o.adapterType, type: o.type } : undefined;
process.stdout.write(JSON.stringify(adapter ? { found: true, info: pick(adapter.info), isFallbackAdapter: adapter.isFallbackAdapter } : { found: false }) + '\\n');
process.exit(0);
`;

const cache = new Map<string, Promise<WebgpuProbe>>();

const defaultRunner = (script: string, args: readonly string[], timeoutMs: number): Promise<ProbeRunResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n(probe killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });

/** Resolve the `webgpu` package's entry as a file URL, or undefined when it is not installed. */
export function resolveWebgpuPackage(resolveFrom: readonly string[] = [import.meta.url, join(process.cwd(), 'package.json')]): string | undefined {
  for (const base of resolveFrom) {
    try {
      return pathToFileURL(createRequire(base).resolve('webgpu')).href;
    } catch {
      // not resolvable from here: try the next base
    }
  }
  return undefined;
}

/** The first non-empty line of the probe's stderr that reads like an error, for messages. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !/^Warning:/u.test(line));
  return lines.find((line) => /Error|error:/u.test(line)) ?? lines[0] ?? 'no output';
}

async function runProbe(options: WebgpuProbeOptions): Promise<WebgpuProbe> {
  const url = resolveWebgpuPackage(options.resolveFrom);
  if (!url) {
    return { status: 'unavailable', reason: 'the optional webgpu package is not installed (Dawn; npm install webgpu)', stderr: '' };
  }
  const runner = options.runner ?? defaultRunner;
  const result = await runner(WEBGPU_PROBE_SCRIPT, [url, JSON.stringify(options.flags ?? [])], options.timeoutMs ?? 20_000);
  const line = result.stdout.split('\n').find((entry) => entry.startsWith('{'));
  if (result.status !== 0 || !line) {
    return { status: 'unavailable', reason: `the WebGPU probe failed (exit ${result.status}): ${errorLine(result.stderr)}`, stderr: result.stderr };
  }
  let parsed: { found: boolean; info?: AdapterInfoLike; isFallbackAdapter?: boolean };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return { status: 'unavailable', reason: `the WebGPU probe printed unreadable output: ${line.slice(0, 200)}`, stderr: result.stderr };
  }
  if (!parsed.found) {
    return { status: 'none', reason: 'requestAdapter() returned null (no Vulkan, Metal or D3D12 driver with a usable adapter)', stderr: result.stderr };
  }
  const info = parsed.info ?? {};
  const verdict = classifyAdapter({ info, ...(parsed.isFallbackAdapter === undefined ? {} : { isFallbackAdapter: parsed.isFallbackAdapter }) });
  return { status: verdict.software ? 'software' : 'hardware', label: verdict.label, reason: verdict.reason, info, stderr: result.stderr };
}

/**
 * Probe the WebGPU adapter Dawn would pick (`powerPreference: 'high-performance'`) without
 * loading Dawn into this process (see the file header). Never throws: a missing package, a
 * crash or a timeout are `unavailable` with the reason.
 */
export function probeWebgpuAdapter(options: WebgpuProbeOptions = {}): Promise<WebgpuProbe> {
  const key = JSON.stringify([options.flags ?? [], options.resolveFrom ?? []]);
  if (options.fresh || options.runner) return runProbe(options);
  let pending = cache.get(key);
  if (!pending) {
    pending = runProbe(options);
    cache.set(key, pending);
  }
  return pending;
}

/** One line for logs: `hardware adapter nvidia ampere …`, `software adapter … (info.isFallbackAdapter is true)`, or why none. */
export function describeWebgpuProbe(probe: WebgpuProbe): string {
  switch (probe.status) {
    case 'hardware':
      return `hardware adapter ${probe.label}`;
    case 'software':
      return `software adapter ${probe.label} (${probe.reason})`;
    default:
      return probe.reason;
  }
}
