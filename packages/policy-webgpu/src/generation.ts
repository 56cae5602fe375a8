/**
 * GPU generation, the host side: the options and result of `WebGpuPolicyEngine.generate` (the
 * contract of @vlm-grpo/vlm's `CausalLM.generate`, so the engine can stand in for the tfjs model
 * under a `VLMWrapper`) and the decode loop over a recorded {@link GenerationPlan}.
 *
 * Loop: submit the prefill (which samples token 0); then, per step, submit the next decode step
 * BEFORE waiting for the previous step's read-back (the copy of its N tokens and log-probs is
 * queued first), so the GPU never waits for the host; the host applies the stop rules of
 * `CausalLM.generate` exactly: per unfinished row, append the token and its log-prob, then EOS →
 * `eos`, else a stop string in the decoded completion (leading whitespace trimmed) → `stop`, then
 * `maxNewTokens` reached → `length`; stop when every row is finished. Finished rows keep decoding
 * on the GPU (fixed shapes) and their tokens are dropped, as the tfjs path feeds them padding.
 * The only read-backs are the N sampled ids and log-probs of each step (8·N bytes); at most one
 * decode step runs past the end.
 * Departures from `CausalLM.generate`: sampled (non-greedy) tokens come from the GPU sampler's
 * counter-based random stream (kernels/sampler.ts), not the tfjs path's sequential generator:
 * the same seed gives the same tokens on this path, other tokens than on the tfjs path.
 */
import { PolicyWebGpuError } from './errors.js';
import type { GpuContext } from './gpu.js';
import type { GenerationPlan } from './generation-plan.js';
import type { SamplerSettings } from './kernels/sampler.js';
import type { GpuFinishReason, GpuGenerateOptions, GpuGenerateOutput } from './generate-types.js';

/** Normalised generation options (the checks and defaults of `CausalLM.generate`). */
export interface NormalizedGenerate {
  /** Sampler settings (greedy: temperature 1). */
  settings: SamplerSettings;
  /** Requested new tokens. */
  maxNewTokens: number;
  /** Completions per prompt G. */
  group: number;
}

/** Check the options as `CausalLM.generate` does; throws `WEBGPU_INVALID_ARGUMENT` naming the option. */
export function normalizeGenerateOptions(options: GpuGenerateOptions, where: string): NormalizedGenerate {
  const check = (ok: boolean, text: string) => {
    if (!ok) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', `${where}: ${text}`);
  };
  const temperature = options.temperature ?? 1;
  const greedy = !(options.doSample ?? false) || temperature === 0;
  const maxNewTokens = options.maxNewTokens ?? 32;
  const group = options.numReturnSequences ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const repetitionPenalty = options.repetitionPenalty ?? 1;
  const noRepeatNgramSize = options.noRepeatNgramSize ?? 0;
  check(Number.isInteger(maxNewTokens) && maxNewTokens >= 0, `maxNewTokens must be a non-negative integer, received ${maxNewTokens}`);
  check(Number.isInteger(group) && group >= 1, `numReturnSequences must be a positive integer, received ${group}`);
  check(temperature >= 0 && Number.isFinite(temperature), `temperature must be ≥ 0, received ${temperature}`);
  check(Number.isInteger(topK) && topK >= 0, `topK must be a non-negative integer, received ${topK}`);
  check(topP > 0 && topP <= 1, `topP must be in (0, 1], received ${topP}`);
  check(repetitionPenalty > 0 && Number.isFinite(repetitionPenalty), `repetitionPenalty must be > 0, received ${repetitionPenalty}`);
  check(Number.isInteger(noRepeatNgramSize) && noRepeatNgramSize >= 0, `noRepeatNgramSize must be a non-negative integer, received ${noRepeatNgramSize}`);
  check(!options.stopStrings?.length || typeof options.decode === 'function', 'stopStrings need a decode function');
  check(options.seed === undefined || Number.isFinite(options.seed), `seed must be a finite number, received ${options.seed}`);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  return {
    settings: { greedy, temperature: greedy ? 1 : temperature, topK, topP, repetitionPenalty, noRepeatNgramSize, seed },
    maxNewTokens,
    group,
  };
}

/** What the decode loop needs besides the plan (inputs already written). */
export interface DecodeJob {
  /** The B prompts (unpadded). */
  promptIds: readonly (readonly number[])[];
  /** New tokens at most (≤ the plan's T). */
  maxNew: number;
  /** EOS ids. */
  eos: ReadonlySet<number>;
  /** Stop strings and their decoder. */
  stopStrings?: readonly string[] | undefined;
  /** Decoder for the stop strings. */
  decode?: ((ids: number[]) => string) | undefined;
  /** Submit recorded commands (one encoder). */
  submit: (commands: GenerationPlan['decode']) => void;
}

/** Run the prefill and the decode steps of a plan whose inputs are written (see the file header). */
export async function runDecodeLoop(ctx: GpuContext, plan: GenerationPlan, job: DecodeJob): Promise<GpuGenerateOutput> {
  const n = plan.sequences;
  const g = plan.shape.group;
  const promptRows = job.promptIds.flatMap((row) => Array.from({ length: g }, () => [...row]));
  const completions: number[][] = Array.from({ length: n }, () => []);
  const logProbs: number[][] = Array.from({ length: n }, () => []);
  const reasons: (GpuFinishReason | null)[] = new Array<GpuFinishReason | null>(n).fill(null);
  const stepBytes = n * 8;
  /** Queue the read-back of history rows [from, to). */
  const readSteps = (from: number, to: number) => ctx.read(plan.history, (to - from) * stepBytes, from * stepBytes);

  job.submit(plan.prefill);
  let sampled = 1;
  let readFrom = 0;
  let pending = readSteps(0, 1);
  for (;;) {
    const ahead = sampled < job.maxNew;
    if (ahead) job.submit(plan.decode); // runs while the host waits for and handles the last step
    const raw = await pending;
    const ids = new Uint32Array(raw);
    const values = new Float32Array(raw);
    for (let s = 0; s < ids.length / (2 * n); s += 1) {
      for (let r = 0; r < n; r += 1) {
        if (reasons[r]) continue;
        const token = ids[(s * n + r) * 2]!;
        completions[r]!.push(token);
        logProbs[r]!.push(values[(s * n + r) * 2 + 1]!);
        if (job.eos.has(token)) reasons[r] = 'eos';
        else if (job.stopStrings?.length) {
          const text = job.decode!(completions[r]!).trimStart();
          if (job.stopStrings.some((stop) => stop.length > 0 && text.includes(stop))) reasons[r] = 'stop';
        }
        if (!reasons[r] && completions[r]!.length >= job.maxNew) reasons[r] = 'length';
      }
    }
    readFrom = sampled;
    if (!ahead || reasons.every((reason) => reason !== null)) break;
    sampled += 1;
    pending = readSteps(readFrom, sampled);
  }
  return {
    sequences: promptRows.map((row, r) => [...row, ...completions[r]!]),
    promptIds: promptRows,
    completionIds: completions,
    completionLogProbs: logProbs,
    finishReasons: reasons.map((reason) => reason ?? 'length'),
  };
}
