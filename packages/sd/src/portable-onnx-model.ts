/**
 * The rewritten copy of an ONNX file that ONNX Runtime loads instead of the original, for two
 * reasons: the graph uses ONNX Runtime's CUDA-only fused operators that the device's EP lacks
 * (`onnx-contrib-lowering.ts` rewrites them as standard ONNX), or its attention is spelled out as
 * 13 nodes that `onnx-attention-fusion.ts` fuses into `MultiHeadAttention` (flash attention on
 * WebGPU). The copy is written once beside the original as `<name>.portable-<signature>.onnx` (the
 * signature hashes the original's size and mtime, the rewrites and the rules' version, so a
 * changed model or rule set gets a new copy), and reused afterwards. Writing beside the original
 * keeps relative external-data paths valid (and a model whose weights are external data gets a
 * copy of its graph only); when the folder is read-only, a model without external data gets its
 * copy in the system temp folder instead. Deleting a copy is always safe: it is rebuilt on the
 * next load. {@link createPortableSession} is what the session loader calls.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SdError } from './errors.js';
import { fuseAttention } from './onnx-attention-fusion.js';
import { contribOpsToLower, LOWERABLE_CONTRIB_OPS, loweringCounts, lowerContribOps } from './onnx-contrib-lowering.js';
import type { LowerableContribOp, LoweringDevice } from './onnx-contrib-lowering.js';
import { applyRewrites, readOnnxGraph, writeOnnxGraph } from './onnx-graph-file.js';
import type { GraphRewrite } from './onnx-graph-file.js';

/** Version of the rewrite rules (lowering and attention fusion): part of the signature, so a rule change rebuilds old copies. */
export const REWRITE_RULES_VERSION = 1;

/** What a rewritten copy does. */
export interface PortableRewrites {
  /** com.microsoft op types to lower to standard ONNX (see `contribOpsToLower`). */
  lower: ReadonlySet<string>;
  /** Fuse spelled-out attention into `MultiHeadAttention` (default false). */
  fuseAttention?: boolean;
}

/** A rewritten copy in use. */
export interface PortableOnnxModel {
  /** The file to load instead of the original. */
  path: string;
  /** Lowered nodes by op type (see `loweringCounts`). */
  counts: Map<string, number>;
  /** Fused attention blocks (0 when not asked for or none matched). */
  fusedAttention: number;
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

/** `NhwcConv ×3, GroupNorm ×2` (for messages). */
export function describeCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].map(([op, n]) => `${op} ×${n}`).join(', ');
}

/**
 * The rewritten copy of `path`, or undefined when `rewrites` change nothing in it (it is then
 * loaded as it is). Reads only the graph of the original unless a copy must be written.
 */
export function portableOnnxModel(path: string, rewrites: PortableRewrites): PortableOnnxModel | undefined {
  const started = performance.now();
  const graph = readOnnxGraph(path);
  const counts = loweringCounts(graph, rewrites.lower);
  const fusion: GraphRewrite | undefined = rewrites.fuseAttention ? fuseAttention(graph) : undefined;
  const fusedAttention = [...(fusion?.counts.values() ?? [])].reduce((a, b) => a + b, 0);
  if (counts.size === 0 && fusedAttention === 0) return undefined;
  const stat = statSync(path);
  const signature = createHash('sha256')
    .update(JSON.stringify({ rules: REWRITE_RULES_VERSION, size: stat.size, mtime: stat.mtimeMs, ops: [...rewrites.lower].sort(), attention: Boolean(rewrites.fuseAttention) }))
    .digest('hex')
    .slice(0, 12);
  const name = `${basename(path, '.onnx')}.portable-${signature}.onnx`;
  const beside = join(dirname(path), name);
  const elsewhere = join(tmpdir(), 'vlm-grpo-portable-onnx', `${createHash('sha256').update(path).digest('hex').slice(0, 8)}-${name}`);
  const seconds = (): number => (performance.now() - started) / 1000;
  const result = (file: string, written: boolean): PortableOnnxModel => ({ path: file, counts, fusedAttention, written, seconds: seconds() });
  for (const candidate of graph.usesExternalData ? [beside] : [beside, elsewhere]) {
    if (existsSync(candidate)) return result(candidate, false);
  }
  const edit = applyRewrites(graph, [lowerContribOps(graph, rewrites.lower), ...(fusion ? [fusion] : [])]);
  try {
    writeOnnxGraph(graph, edit, beside);
    return result(beside, true);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!UNWRITABLE.has(code)) throw error;
    if (graph.usesExternalData) {
      throw new PortableModelError(
        `${path} needs a rewritten copy (${describeRewrites(counts, fusedAttention)}) and keeps its weights in external data, ` +
          `so the copy must be written beside it, but ${dirname(path)} is not writable (${code}); make that folder writable` +
          (counts.size > 0 ? ', or run on CUDA' : ', or set fuseAttention: false'),
      );
    }
    mkdirSync(dirname(elsewhere), { recursive: true });
    writeOnnxGraph(graph, edit, elsewhere);
    return result(elsewhere, true);
  }
}

/** `NhwcConv ×3 lowered; 16 attention blocks fused into MultiHeadAttention` */
function describeRewrites(counts: ReadonlyMap<string, number>, fusedAttention: number): string {
  return [
    ...(counts.size > 0 ? [`ONNX Runtime's CUDA-only fused operators (${describeCounts(counts)}) rewritten as standard ONNX`] : []),
    ...(fusedAttention > 0 ? [`${fusedAttention} attention blocks fused into MultiHeadAttention`] : []),
  ].join('; ');
}

/** Portable copies already announced (memory-efficient pipelines reload components every stage). */
const announced = new Set<string>();

/** ONNX Runtime's messages for a node no EP of the session has a kernel for (CPU EP; with the WebGPU EP). */
const MISSING_KERNEL = /Could not find an implementation for (\w+)\(\d+\)|Provider type for (\w+) node with name/u;

/**
 * Create a session for `path` on `device` with `create` (`InferenceSession.create` with the
 * caller's options), through a rewritten copy where one is needed: ONNX Runtime fused ops that the
 * device's EP lacks ({@link contribOpsToLower}) are lowered up front, and an op the EP reports
 * missing at creation is added and the creation retried (the copy without it is removed), so fused
 * ops stay wherever a kernel exists; with `fuseAttention`, spelled-out attention is fused. Logs one
 * INFO line per copy.
 */
export async function createPortableSession<S>(
  create: (file: string) => Promise<S>,
  path: string,
  component: string,
  device: LoweringDevice,
  logger: (level: 'info' | 'warn', message: string) => void,
  options: { fuseAttention?: boolean } = {},
): Promise<S> {
  const ops = contribOpsToLower(device);
  for (;;) {
    let portable;
    try {
      portable = ops.size > 0 || options.fuseAttention ? portableOnnxModel(path, { lower: ops, fuseAttention: options.fuseAttention ?? false }) : undefined;
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
          `${component}: ${path}: ${describeRewrites(portable.counts, portable.fusedAttention)} for ${device}; running the copy ` +
            `${portable.written ? `written in ${portable.seconds.toFixed(1)} s to` : 'reused from'} ${portable.path}`,
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
