/**
 * Running a CLIP text encoder export for one prompt: `input_ids` [1, 77] in the declared int
 * dtype → the last hidden state (SD 1.x/2.x), or the penultimate hidden state `hidden_states[-2]`
 * (SDXL, SD3: ONNX output `hidden_states.{K−1}` where K is the highest index exported) and the
 * pooled projection `text_embeds` (`CLIPTextModelWithProjection`; `pooler_output` otherwise).
 */
import type { ClipTokenizer } from './clip-tokenizer.js';
import { SdError } from './errors.js';
import type { OnnxModel } from './onnx-session.js';

/** A float32 tensor. */
export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

/** Encoder outputs for one prompt. */
export interface ClipEncoding {
  /** [1, seq, hidden]. */
  hidden: FloatTensor;
  /** [1, proj] pooled embedding, when requested. */
  pooled?: FloatTensor;
}

/** Which hidden state to return. */
export type HiddenStateChoice = 'last' | 'penultimate';

/** Encode one prompt with a CLIP text encoder session. */
export async function encodeClip(
  model: OnnxModel,
  tokenizer: ClipTokenizer,
  text: string,
  hidden: HiddenStateChoice,
  pooled: boolean,
): Promise<ClipEncoding> {
  const ids = tokenizer.encode(text);
  const names = model.outputs.map((o) => o.name);
  let hiddenName = 'last_hidden_state';
  if (hidden === 'penultimate') {
    const indices = names.map((n) => /^hidden_states\.(\d+)$/.exec(n)?.[1]).filter((x): x is string => x !== undefined).map(Number);
    if (indices.length < 2) {
      throw new SdError(
        'SD_INVALID_MODEL',
        `${model.component}: needs hidden_states.N outputs for the penultimate layer (export with output_hidden_states); outputs: ${names.join(', ')}`,
      );
    }
    hiddenName = `hidden_states.${Math.max(...indices) - 1}`;
  } else if (!names.includes(hiddenName)) {
    hiddenName = names[0]!;
  }
  const pooledName = pooled ? (names.includes('text_embeds') ? 'text_embeds' : names.includes('pooler_output') ? 'pooler_output' : undefined) : undefined;
  if (pooled && !pooledName) {
    throw new SdError('SD_INVALID_MODEL', `${model.component}: no text_embeds or pooler_output output; outputs: ${names.join(', ')}`);
  }
  const wanted = pooledName ? [hiddenName, pooledName] : [hiddenName];
  const res = await model.run({ input_ids: model.idsTensor('input_ids', [ids]) }, wanted);
  const h = res.get(hiddenName)!;
  return { hidden: h, ...(pooledName ? { pooled: res.get(pooledName)! } : {}) };
}

/** Stack [1, …] tensors into [N, …]. */
export function stack(parts: readonly FloatTensor[]): FloatTensor {
  const data = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
  let off = 0;
  for (const p of parts) {
    data.set(p.data, off);
    off += p.data.length;
  }
  return { data, dims: [parts.length, ...parts[0]!.dims.slice(1)] };
}

/** Concatenate [1, S, A] and [1, S, B] along the last dim → [1, S, A+B]. */
export function concatLastDim(a: FloatTensor, b: FloatTensor, padTo?: number): FloatTensor {
  const rows = a.data.length / a.dims[a.dims.length - 1]!;
  const da = a.dims[a.dims.length - 1]!;
  const db = b.dims[b.dims.length - 1]!;
  const width = Math.max(padTo ?? 0, da + db);
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    out.set(a.data.subarray(r * da, (r + 1) * da), r * width);
    out.set(b.data.subarray(r * db, (r + 1) * db), r * width + da);
  }
  return { data: out, dims: [...a.dims.slice(0, -1), width] };
}

/** A zero tensor shaped like `t`. */
export function zerosLike(t: FloatTensor): FloatTensor {
  return { data: new Float32Array(t.data.length), dims: [...t.dims] };
}
