/**
 * The trainer state that makes a run resumable bit for bit: policy and reference weights, AdamW
 * moments, step counters, the RNG words and the dataset cursor. {@link encodeTrainerState} turns
 * it into a JSON manifest plus one binary blob (all float32 tensors back to back, little-endian),
 * which a trainer application can write atomically; {@link decodeTrainerState} reverses it.
 */
import type { AdamWState, TensorData } from '@vlm-grpo/vlm';
import type { GRPOConfig } from './config.js';
import { GrpoError } from './errors.js';

/** Current state format version. */
export const TRAINER_STATE_VERSION = 1;

/** Everything needed to resume a {@link GRPOTrainer} exactly. */
export interface GRPOTrainerState {
  /** Format version ({@link TRAINER_STATE_VERSION}). */
  version: number;
  /** The configuration the state was produced with (informational; the trainer keeps its own). */
  config: GRPOConfig;
  /** Trainer steps (generation batches) completed. */
  step: number;
  /** Optimizer updates applied (the schedule position). */
  optimizerStep: number;
  /** Prompt + completion tokens generated so far (`num_tokens`). */
  numTokens: number;
  /** xoshiro128** state words. */
  rng: [number, number, number, number];
  /** Dataset cursor: current epoch, position in `order`, the epoch's permutation, dataset size. */
  dataset: { epoch: number; position: number; order: number[]; size: number };
  /** Policy trainable variables, in `trainableVariables()` order. */
  policyWeights: TensorData[];
  /** Reference trainable variables (null when beta = 0). */
  referenceWeights: TensorData[] | null;
  /** AdamW step count and moments (@vlm-grpo/vlm's `AdamW#getState`). */
  optimizer: AdamWState;
}

/** JSON part of an encoded state: the state with each tensor replaced by its place in the blob. */
export interface EncodedTrainerState {
  /** JSON-serialisable manifest. */
  manifest: Record<string, unknown>;
  /** Concatenated float32 data (little-endian). */
  data: Uint8Array;
}

interface TensorRef {
  shape: number[];
  offset: number;
  length: number;
}

/** Split a state into a JSON manifest and one binary blob. */
export function encodeTrainerState(state: GRPOTrainerState): EncodedTrainerState {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const ref = (t: TensorData): TensorRef => {
    const r = { shape: [...t.shape], offset, length: t.data.length };
    chunks.push(t.data);
    offset += t.data.length;
    return r;
  };
  const manifest = {
    version: state.version,
    config: state.config,
    step: state.step,
    optimizerStep: state.optimizerStep,
    numTokens: state.numTokens,
    rng: state.rng,
    dataset: state.dataset,
    policyWeights: state.policyWeights.map(ref),
    referenceWeights: state.referenceWeights?.map(ref) ?? null,
    optimizer: { step: state.optimizer.step, m: state.optimizer.m.map(ref), v: state.optimizer.v.map(ref) },
  };
  const floats = new Float32Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    floats.set(chunk, at);
    at += chunk.length;
  }
  const data = new Uint8Array(floats.byteLength);
  const view = new DataView(data.buffer);
  for (let i = 0; i < floats.length; i++) view.setFloat32(i * 4, floats[i]!, true);
  return { manifest, data };
}

/** Rebuild a state from {@link encodeTrainerState}'s output (e.g. after reading both files back). */
export function decodeTrainerState(manifest: Record<string, unknown>, data: Uint8Array): GRPOTrainerState {
  if (manifest['version'] !== TRAINER_STATE_VERSION) {
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `trainer state: expected version ${TRAINER_STATE_VERSION}, got ${JSON.stringify(manifest['version'])}`,
    );
  }
  if (data.byteLength % 4 !== 0) {
    throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state data: ${data.byteLength} bytes is not a multiple of 4`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const total = data.byteLength / 4;
  const read = (r: unknown, what: string): TensorData => {
    const t = r as Partial<TensorRef>;
    if (!Array.isArray(t.shape) || !Number.isInteger(t.offset) || !Number.isInteger(t.length)) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: expected { shape, offset, length }`);
    }
    if (t.offset! < 0 || t.offset! + t.length! > total) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: range ${t.offset}+${t.length} is outside the ${total} stored values`);
    }
    const out = new Float32Array(t.length!);
    for (let i = 0; i < t.length!; i++) out[i] = view.getFloat32((t.offset! + i) * 4, true);
    return { shape: t.shape as number[], data: out };
  };
  const list = (value: unknown, what: string): TensorData[] => {
    if (!Array.isArray(value)) throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: expected an array`);
    return value.map((r, i) => read(r, `${what}[${i}]`));
  };
  const optimizer = manifest['optimizer'] as { step: number; m: unknown; v: unknown } | undefined;
  if (optimizer === undefined) throw new GrpoError('GRPO_STATE_MISMATCH', 'trainer state: missing optimizer');
  return {
    version: TRAINER_STATE_VERSION,
    config: manifest['config'] as GRPOConfig,
    step: manifest['step'] as number,
    optimizerStep: manifest['optimizerStep'] as number,
    numTokens: manifest['numTokens'] as number,
    rng: manifest['rng'] as [number, number, number, number],
    dataset: manifest['dataset'] as GRPOTrainerState['dataset'],
    policyWeights: list(manifest['policyWeights'], 'policyWeights'),
    referenceWeights: manifest['referenceWeights'] === null ? null : list(manifest['referenceWeights'], 'referenceWeights'),
    optimizer: { step: optimizer.step, m: list(optimizer.m, 'optimizer.m'), v: list(optimizer.v, 'optimizer.v') },
  };
}

/** Throw GRPO_STATE_MISMATCH unless `entry` has `shape` and the matching number of values. */
export function assertShape(entry: TensorData, shape: readonly number[], what: string): void {
  const size = shape.reduce((a, b) => a * b, 1);
  if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i]) || entry.data.length !== size) {
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `${what}: expected shape [${shape.join(', ')}], got [${entry.shape.join(', ')}] with ${entry.data.length} values`,
    );
  }
}
