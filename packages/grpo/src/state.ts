/**
 * The trainer state that makes a run resumable bit for bit: the policy engine's weights, AdamW
 * moments and step count, the reference engine's weights, step counters, the RNG words and the
 * dataset cursor. {@link encodeTrainerState} turns it into a JSON manifest plus one binary blob
 * (all float32 arrays back to back, little-endian), which a trainer application can write
 * atomically; {@link decodeTrainerState} reverses it.
 */
import type { GRPOConfig } from './config.js';
import { GrpoError } from './errors.js';
import type { OptimizerStateData, ParameterState } from './policy-engine.js';

/** Current state format version (2: engine states keyed by parameter name). */
export const TRAINER_STATE_VERSION = 2;

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
  /** The policy engine's `getOptimizerState()`: weights, AdamW moments and step, by parameter name. */
  policy: OptimizerStateData;
  /** The reference engine's weights (no moments), by parameter name; null when beta = 0. */
  reference: OptimizerStateData | null;
}

/** JSON part of an encoded state: the state with each array replaced by its place in the blob. */
export interface EncodedTrainerState {
  /** JSON-serialisable manifest. */
  manifest: Record<string, unknown>;
  /** Concatenated float32 data (little-endian). */
  data: Uint8Array;
}

interface ArrayRef {
  offset: number;
  length: number;
}

/** Split a state into a JSON manifest and one binary blob. */
export function encodeTrainerState(state: GRPOTrainerState): EncodedTrainerState {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const ref = (a: Float32Array): ArrayRef => {
    const r = { offset, length: a.length };
    chunks.push(a);
    offset += a.length;
    return r;
  };
  const engine = (s: OptimizerStateData) => ({
    step: s.step,
    parameters: Object.fromEntries(
      Object.entries(s.parameters).map(([name, p]) => [
        name,
        {
          shape: [...p.shape],
          weights: ref(p.weights),
          ...(p.m === undefined ? {} : { m: ref(p.m) }),
          ...(p.v === undefined ? {} : { v: ref(p.v) }),
        },
      ]),
    ),
  });
  const manifest = {
    version: state.version,
    config: state.config,
    step: state.step,
    optimizerStep: state.optimizerStep,
    numTokens: state.numTokens,
    rng: state.rng,
    dataset: state.dataset,
    policy: engine(state.policy),
    reference: state.reference === null ? null : engine(state.reference),
  };
  const data = new Uint8Array(offset * 4);
  const view = new DataView(data.buffer);
  let at = 0;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) view.setFloat32((at + i) * 4, chunk[i]!, true);
    at += chunk.length;
  }
  return { manifest, data };
}

/** Rebuild a state from {@link encodeTrainerState}'s output (e.g. after reading both files back). */
export function decodeTrainerState(manifest: Record<string, unknown>, data: Uint8Array): GRPOTrainerState {
  if (manifest['version'] !== TRAINER_STATE_VERSION) {
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `trainer state: expected version ${TRAINER_STATE_VERSION}, got ${JSON.stringify(manifest['version'])}` +
        (manifest['version'] === 1 ? ' (version 1 states, from before the policy-engine port, cannot be resumed)' : ''),
    );
  }
  if (data.byteLength % 4 !== 0) {
    throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state data: ${data.byteLength} bytes is not a multiple of 4`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const total = data.byteLength / 4;
  const read = (r: unknown, size: number, what: string): Float32Array => {
    const t = r as Partial<ArrayRef> | null;
    if (t === null || typeof t !== 'object' || !Number.isInteger(t.offset) || !Number.isInteger(t.length)) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: expected { offset, length }`);
    }
    if (t.length !== size) throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: ${t.length} values for a shape of ${size}`);
    if (t.offset! < 0 || t.offset! + t.length! > total) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: range ${t.offset}+${t.length} is outside the ${total} stored values`);
    }
    const out = new Float32Array(t.length!);
    for (let i = 0; i < t.length!; i++) out[i] = view.getFloat32((t.offset! + i) * 4, true);
    return out;
  };
  const engine = (value: unknown, what: string): OptimizerStateData => {
    const e = value as { step?: unknown; parameters?: unknown } | null;
    if (e === null || typeof e !== 'object' || !Number.isInteger(e.step) || typeof e.parameters !== 'object' || e.parameters === null) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: expected { step, parameters }`);
    }
    const parameters: Record<string, ParameterState> = {};
    for (const [name, raw] of Object.entries(e.parameters as Record<string, unknown>)) {
      const p = raw as { shape?: unknown; weights?: unknown; m?: unknown; v?: unknown } | null;
      const where = `${what}.parameters["${name}"]`;
      if (p === null || typeof p !== 'object' || !Array.isArray(p.shape) || !p.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${where}: expected { shape, weights, m?, v? }`);
      }
      const shape = p.shape as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      parameters[name] = {
        shape: [...shape],
        weights: read(p.weights, size, `${where}.weights`),
        ...(p.m === undefined ? {} : { m: read(p.m, size, `${where}.m`) }),
        ...(p.v === undefined ? {} : { v: read(p.v, size, `${where}.v`) }),
      };
    }
    return { step: e.step as number, parameters };
  };
  return {
    version: TRAINER_STATE_VERSION,
    config: manifest['config'] as GRPOConfig,
    step: manifest['step'] as number,
    optimizerStep: manifest['optimizerStep'] as number,
    numTokens: manifest['numTokens'] as number,
    rng: manifest['rng'] as [number, number, number, number],
    dataset: manifest['dataset'] as GRPOTrainerState['dataset'],
    policy: engine(manifest['policy'], 'policy'),
    reference: manifest['reference'] === null ? null : engine(manifest['reference'], 'reference'),
  };
}

/**
 * Throw GRPO_STATE_MISMATCH unless `state` has exactly the parameters of `like` (names, order and
 * shapes) and every array has its shape's size.
 */
export function assertSameParameters(state: OptimizerStateData, like: OptimizerStateData, what: string, likeWhat: string): void {
  const names = Object.keys(state.parameters);
  const expected = Object.keys(like.parameters);
  if (names.length !== expected.length || names.some((name, i) => name !== expected[i])) {
    const missing = expected.filter((name) => !(name in state.parameters));
    const extra = names.filter((name) => !(name in like.parameters));
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `${what}: parameters differ from ${likeWhat}` +
        (missing.length > 0 ? `; missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}` : '') +
        (extra.length > 0 ? `; unexpected ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}` : '') +
        (missing.length === 0 && extra.length === 0 ? '; same names in another order' : ''),
    );
  }
  for (const name of names) {
    const p = state.parameters[name]!;
    const shape = like.parameters[name]!.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const sizes = [p.weights.length, ...(p.m === undefined ? [] : [p.m.length]), ...(p.v === undefined ? [] : [p.v.length])];
    if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i]) || sizes.some((s) => s !== size)) {
      throw new GrpoError(
        'GRPO_STATE_MISMATCH',
        `${what}.parameters["${name}"]: expected shape [${shape.join(', ')}], got [${p.shape.join(', ')}] with ${sizes.join('/')} values`,
      );
    }
  }
}
