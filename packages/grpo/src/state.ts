/**
 * The trainer state that makes a run resumable bit for bit: the policy engine's weights, AdamW
 * moments and step count, the reference engine's weights, step counters, the RNG words and the
 * dataset cursor. {@link encodeTrainerState} turns it into a JSON manifest plus binary parts (all
 * float32 arrays back to back, little-endian, at most `partBytes` per part, default 1 GiB, no
 * array split across parts), which a trainer application can write atomically;
 * {@link decodeTrainerState} reverses it. Parts: one JavaScript array holds at most 4 GiB, and a
 * real-size policy's state is larger (DialoGPT-medium: 354.8M parameters × 4 arrays (weights, two
 * AdamW moments, reference weights) × 4 bytes = 5.7 GB). A state of one part is what version 2
 * always wrote (array references `{ offset, length }`); later parts add `part` to the reference.
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

/** An encoded state: the manifest (the state with each array replaced by its place) and the data. */
export interface EncodedTrainerState {
  /** JSON-serialisable manifest. */
  manifest: Record<string, unknown>;
  /** Concatenated float32 data (little-endian), in parts of at most `partBytes` (see the file header). */
  parts: Uint8Array[];
}

/** Options of {@link encodeTrainerState}. */
export interface EncodeTrainerStateOptions {
  /** Most bytes per part (default: 2^30); an array larger than this gets a part of its own. */
  partBytes?: number;
}

/** Where an array is: part (omitted for part 0), offset and length in float32 values. */
interface ArrayRef {
  part?: number;
  offset: number;
  length: number;
}

/** True where typed arrays are little-endian (every platform Node.js runs on): bytes copy as they are. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Split a state into a JSON manifest and binary parts (see the file header). */
export function encodeTrainerState(state: GRPOTrainerState, options: EncodeTrainerStateOptions = {}): EncodedTrainerState {
  const partBytes = options.partBytes ?? 2 ** 30;
  const layout: Float32Array[][] = [[]];
  const sizes = [0]; // float32 values per part
  const ref = (a: Float32Array): ArrayRef => {
    let part = layout.length - 1;
    if (sizes[part]! > 0 && (sizes[part]! + a.length) * 4 > partBytes) {
      layout.push([]);
      sizes.push(0);
      part += 1;
    }
    const r: ArrayRef = part === 0 ? { offset: sizes[part]!, length: a.length } : { part, offset: sizes[part]!, length: a.length };
    layout[part]!.push(a);
    sizes[part]! += a.length;
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
  const parts = layout.map((arrays, p) => {
    const data = new Uint8Array(sizes[p]! * 4);
    const view = new DataView(data.buffer);
    let at = 0;
    for (const a of arrays) {
      if (LITTLE_ENDIAN) data.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at * 4);
      else for (let i = 0; i < a.length; i++) view.setFloat32((at + i) * 4, a[i]!, true);
      at += a.length;
    }
    return data;
  });
  return { manifest: { ...manifest, ...(parts.length > 1 ? { parts: parts.length } : {}) }, parts };
}

/**
 * Rebuild a state from {@link encodeTrainerState}'s output (e.g. after reading the files back):
 * the manifest and its parts in order (one Uint8Array for a state of one part).
 */
export function decodeTrainerState(manifest: Record<string, unknown>, data: Uint8Array | readonly Uint8Array[]): GRPOTrainerState {
  if (manifest['version'] !== TRAINER_STATE_VERSION) {
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `trainer state: expected version ${TRAINER_STATE_VERSION}, got ${JSON.stringify(manifest['version'])}` +
        (manifest['version'] === 1 ? ' (version 1 states, from before the policy-engine port, cannot be resumed)' : ''),
    );
  }
  const parts = data instanceof Uint8Array ? [data] : data;
  const expectedParts = manifest['parts'] ?? 1;
  if (expectedParts !== parts.length) {
    throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state: the manifest has ${JSON.stringify(expectedParts)} data parts, ${parts.length} given`);
  }
  parts.forEach((part, p) => {
    if (part.byteLength % 4 !== 0) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state data${parts.length > 1 ? ` part ${p}` : ''}: ${part.byteLength} bytes is not a multiple of 4`);
    }
  });
  const read = (r: unknown, size: number, what: string): Float32Array => {
    const t = r as Partial<ArrayRef> | null;
    if (t === null || typeof t !== 'object' || !Number.isInteger(t.offset) || !Number.isInteger(t.length) || (t.part !== undefined && !Number.isInteger(t.part))) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: expected { offset, length } (and part)`);
    }
    if (t.length !== size) throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: ${t.length} values for a shape of ${size}`);
    const part = parts[t.part ?? 0];
    if (part === undefined) throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: part ${t.part} of ${parts.length}`);
    const total = part.byteLength / 4;
    if (t.offset! < 0 || t.offset! + t.length! > total) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: range ${t.offset}+${t.length} is outside the ${total} stored values`);
    }
    const start = part.byteOffset + t.offset! * 4;
    if (LITTLE_ENDIAN) return new Float32Array(part.buffer.slice(start, start + t.length! * 4));
    const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
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
