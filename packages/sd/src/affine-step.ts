/**
 * Scheduler steps as affine plans, so the step can run as a small GPU graph (`step-graph.ts`)
 * while the latents stay on the GPU.
 *
 * Every scheduler here except clipped DDIM/LCM (`clip_sample: true`) updates the latents by an
 * affine map whose coefficients depend only on the step index:
 *
 *   x_{i+1} = a·x_i + c·m_i + d·z_i + Σ_k b_k·h_k            (x, m, z, h_k: [B, C, h, w])
 *
 * where m is the (guided) model output, z standard-normal noise and h_k tensors stored at earlier
 * steps (PNDM's ε history and first sample, DPM-Solver's converted outputs), each itself an
 * affine combination `p·x + q·m` of its step. A plan lists those coefficients in float64 (the GPU
 * rounds them to float32), the tensors to store and the stored tensors still needed afterwards.
 * Plans are pure functions of the step index (no scheduler state changes), so a scheduler's JS
 * `step` stays the reference and the two can be compared step by step.
 */

/** A linear combination of the tensors of one step: Σ coefficient·tensor. */
export interface AffineTerms {
  /** Coefficient of the current sample x_i (default 0). */
  sample?: number;
  /** Coefficient of the (guided) model output m_i (default 0). */
  model?: number;
  /**
   * Coefficient of standard-normal noise z_i. Present (even 0) exactly when the JS `step` draws
   * noise at this index, so the noise streams advance identically on both paths.
   */
  noise?: number;
  /** Coefficients of tensors stored at earlier steps, by slot name. */
  history?: Readonly<Record<string, number>>;
}

/** One scheduler step as an affine plan. */
export interface AffineStep {
  /** The next sample x_{i+1} (the final latents after the last step). */
  next: AffineTerms;
  /** Tensors later steps read, stored under their slot names: `p·x_i + q·m_i`. */
  store: Readonly<Record<string, { sample?: number; model?: number }>>;
  /** Slots still needed after this step (stored now or earlier); the others can be released. */
  keep: readonly string[];
}

/** Σ weight·terms over several combinations (history slots merged by name). */
export function combineTerms(...parts: readonly (readonly [AffineTerms, number])[]): AffineTerms {
  const out: { sample?: number; model?: number; noise?: number; history?: Record<string, number> } = {};
  for (const [t, w] of parts) {
    if (t.sample !== undefined) out.sample = (out.sample ?? 0) + w * t.sample;
    if (t.model !== undefined) out.model = (out.model ?? 0) + w * t.model;
    if (t.noise !== undefined) out.noise = (out.noise ?? 0) + w * t.noise;
    for (const [slot, c] of Object.entries(t.history ?? {})) {
      out.history ??= {};
      out.history[slot] = (out.history[slot] ?? 0) + w * c;
    }
  }
  return out;
}

/** The terms of one stored slot. */
export const slotTerms = (slot: string): AffineTerms => ({ history: { [slot]: 1 } });

/** The current sample x_i. */
export const SAMPLE: AffineTerms = { sample: 1 };

/** The model output m_i. */
export const MODEL: AffineTerms = { model: 1 };

/**
 * Evaluate a plan on host arrays (float64 arithmetic per element, float32 results): the reference
 * for the GPU graph's arithmetic, and what tests compare the schedulers' JS `step` against.
 */
export function evaluateAffineStep(
  plan: AffineStep,
  sample: Float32Array,
  model: Float32Array,
  history: ReadonlyMap<string, Float32Array>,
  noise?: Float32Array,
): { next: Float32Array; stored: Map<string, Float32Array> } {
  const n = sample.length;
  const get = (slot: string): Float32Array => {
    const h = history.get(slot);
    if (!h) throw new RangeError(`affine step: history slot "${slot}" is not stored`);
    return h;
  };
  if (plan.next.noise !== undefined && (!noise || noise.length !== n)) throw new RangeError('affine step: this step needs noise of the sample length');
  const hist = Object.entries(plan.next.history ?? {}).map(([slot, c]) => [get(slot), c] as const);
  const next = new Float32Array(n);
  const a = plan.next.sample ?? 0;
  const c = plan.next.model ?? 0;
  const d = plan.next.noise ?? 0;
  for (let i = 0; i < n; i++) {
    let v = a * sample[i]! + c * model[i]!;
    if (d !== 0) v += d * noise![i]!;
    for (const [h, w] of hist) v += w * h[i]!;
    next[i] = v;
  }
  const stored = new Map<string, Float32Array>();
  for (const [slot, { sample: p = 0, model: q = 0 }] of Object.entries(plan.store)) {
    const s = new Float32Array(n);
    for (let i = 0; i < n; i++) s[i] = p * sample[i]! + q * model[i]!;
    stored.set(slot, s);
  }
  return { next, stored };
}
