/**
 * The portable copy of an ONNX file that uses ONNX Runtime's CUDA-only fused operators (see
 * `onnx-contrib-lowering.ts`): written once beside the original as
 * `<name>.portable-<signature>.onnx` (the signature hashes the original's size and mtime, the
 * lowered op set and the rules' version, so a changed model or rule set gets a new copy), and
 * reused afterwards. Writing beside the original keeps relative external-data paths valid; when
 * the folder is read-only, a model without external data gets its copy in the system temp folder
 * instead. Deleting a portable copy is always safe: it is rebuilt on the next load.
 * {@link createPortableSession} is what the session loader calls.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SdError } from './errors.js';
import { contribOpsToLower, LOWERABLE_CONTRIB_OPS, loweringCounts, lowerContribOps } from './onnx-contrib-lowering.js';
import type { LowerableContribOp, LoweringDevice } from './onnx-contrib-lowering.js';
import { readOnnxGraph, writeOnnxGraph } from './onnx-graph-file.js';

/** Version of the lowering rules: part of the signature, so a rule change rebuilds old copies. */
export const LOWERING_RULES_VERSION = 1;

/** A portable copy in use. */
export interface PortableOnnxModel {
  /** The file to load instead of the original. */
  path: string;
  /** Lowered nodes by op type (see `loweringCounts`). */
  counts: Map<string, number>;
  /** Whether this call wrote the copy (false: an earlier one did). */
  written: boolean;
  /** Seconds spent reading the original's graph and, if written, writing the copy. */
  seconds: number;
}

/** Raised when a portable copy is needed but cannot be written (names the folder and the reason). */
export class PortableModelError extends Error {
  override name = 'PortableModelError';
}

const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/** `3 × NhwcConv, 2 × GroupNorm` */
export function describeCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].map(([op, n]) => `${op} ×${n}`).join(', ');
}

/**
 * The portable copy of `path` with `ops` lowered, or undefined when the file has no node to lower
 * (it is then loaded as it is). Reads only the graph of the original unless a copy must be written.
 */
export function portableOnnxModel(path: string, ops: ReadonlySet<string>): PortableOnnxModel | undefined {
  const started = performance.now();
  const graph = readOnnxGraph(path);
  const counts = loweringCounts(graph, ops);
  if (counts.size === 0) return undefined;
  const stat = statSync(path);
  const signature = createHash('sha256')
    .update(JSON.stringify({ rules: LOWERING_RULES_VERSION, size: stat.size, mtime: stat.mtimeMs, ops: [...ops].sort() }))
    .digest('hex')
    .slice(0, 12);
  const name = `${basename(path, '.onnx')}.portable-${signature}.onnx`;
  const beside = join(dirname(path), name);
  const elsewhere = join(tmpdir(), 'vlm-grpo-portable-onnx', `${createHash('sha256').update(path).digest('hex').slice(0, 8)}-${name}`);
  const seconds = (): number => (performance.now() - started) / 1000;
  for (const candidate of graph.usesExternalData ? [beside] : [beside, elsewhere]) {
    if (existsSync(candidate)) return { path: candidate, counts, written: false, seconds: seconds() };
  }
  const { edit } = lowerContribOps(graph, ops);
  try {
    writeOnnxGraph(graph, edit, beside);
    return { path: beside, counts, written: true, seconds: seconds() };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!UNWRITABLE.has(code)) throw error;
    if (graph.usesExternalData) {
      throw new PortableModelError(
        `${path} uses ONNX Runtime's CUDA-only fused operators (${describeCounts(counts)}) and keeps its weights in external data, ` +
          `so its portable copy must be written beside it, but ${dirname(path)} is not writable (${code}); make that folder writable, or run on CUDA`,
      );
    }
    mkdirSync(dirname(elsewhere), { recursive: true });
    writeOnnxGraph(graph, edit, elsewhere);
    return { path: elsewhere, counts, written: true, seconds: seconds() };
  }
}

/** Portable copies already announced (memory-efficient pipelines reload components every stage). */
const announced = new Set<string>();

/** ONNX Runtime's messages for a node no EP of the session has a kernel for (CPU EP; with the WebGPU EP). */
const MISSING_KERNEL = /Could not find an implementation for (\w+)\(\d+\)|Provider type for (\w+) node with name/u;

/**
 * Create a session for `path` on `device` with `create` (`InferenceSession.create` with the
 * caller's options), through a portable copy when the graph holds ONNX Runtime fused ops that the
 * device's EP lacks: the ops known to be missing ({@link contribOpsToLower}) are lowered up front,
 * and an op the EP reports missing at creation is added and the creation retried (the copy without
 * it is removed), so fused ops stay wherever a kernel exists. Logs one INFO line per copy.
 */
export async function createPortableSession<S>(
  create: (file: string) => Promise<S>,
  path: string,
  component: string,
  device: LoweringDevice,
  logger: (level: 'info' | 'warn', message: string) => void,
): Promise<S> {
  const ops = contribOpsToLower(device);
  for (;;) {
    let portable;
    try {
      portable = ops.size > 0 ? portableOnnxModel(path, ops) : undefined;
    } catch (cause) {
      if (cause instanceof PortableModelError) throw new SdError('SD_INVALID_MODEL', `${component}: ${cause.message}`, { cause });
      throw cause;
    }
    try {
      const session = await create(portable?.path ?? path);
      if (portable && !announced.has(portable.path)) {
        announced.add(portable.path);
        logger(
          'info',
          `${component}: ${path} uses ONNX Runtime's CUDA-only fused operators (${describeCounts(portable.counts)}); on ${device} it runs ` +
            `a copy with standard ONNX operators, ${portable.written ? `written in ${portable.seconds.toFixed(1)} s to` : 'reused from'} ${portable.path}`,
        );
      }
      return session;
    } catch (error) {
      const match = MISSING_KERNEL.exec((error as Error)?.message ?? '');
      const missing = (match?.[1] ?? match?.[2]) as LowerableContribOp | undefined;
      if (missing && (LOWERABLE_CONTRIB_OPS as readonly string[]).includes(missing) && !ops.has(missing)) {
        // A copy without this op lowered is of no use: remove it rather than leave it on disk.
        if (portable?.written) rmSync(portable.path, { force: true });
        ops.add(missing);
        continue;
      }
      throw error;
    }
  }
}
