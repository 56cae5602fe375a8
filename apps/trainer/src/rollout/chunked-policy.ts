/**
 * Chunked generation (`rollout_settings.generation_chunk_groups` = C > 0): the policy's batch of
 * B prompts is sampled as ⌈B / C⌉ calls of C prompts (× G rewrites each) instead of one, and each
 * chunk's groups are handed to the rollout backend as soon as they exist, so Redis workers render
 * and score chunk k while the trainer samples chunk k+1.
 *
 * Determinism: chunk k samples with `deriveSeed(seed, k)` where `seed` is the GRPO trainer's
 * seed of the call, for both backends alike, so a local and a distributed run with the same
 * settings sample the same rewrites. Departure from the unchunked path: the rewrites differ from
 * a one-call sample of the same seed (the policy's sampler draws one stream per call), which is
 * why chunking is a setting and off by default. Shapes: every field of the result is
 * [B·G][…], prompt-major, exactly as one call would return.
 */
import { deriveSeed } from '@vlm-grpo/data';

/** What chunked sampling needs of a sampling call's options. */
interface SampleOptions {
  numReturnSequences?: number;
  seed?: number;
}

/** A policy that samples G completions per prompt; the result has per-row arrays, prompt-major (`texts` [B·G]). */
interface Sampler {
  sample(prompts: string[], options?: never): Promise<{ texts: string[] }>;
}

/** Told about every sampled chunk: `firstGroup` is the index of its first prompt in the call. */
export type ChunkListener = (chunk: { round: number; firstGroup: number; prompts: string[]; completions: string[]; numGenerations: number }) => Promise<void>;

/** Options of {@link chunkedSampling}. */
export interface ChunkedSamplingOptions {
  /** Prompts per sampling call (C ≥ 1). */
  chunkGroups: number;
  /** Round number of the call (the rewards count rounds the same way). */
  nextRound: () => number;
  /** Receives each chunk after it is sampled (enqueue it). */
  onChunk: ChunkListener;
}

/**
 * The policy with a chunked `sample` (see the file header); every other member is the policy's
 * own (a proxy, so whatever the policy type offers stays available).
 */
export function chunkedSampling<P extends Sampler>(policy: P, options: ChunkedSamplingOptions): P {
  type Result = Awaited<ReturnType<P['sample']>>;
  const sample = async (prompts: string[], call?: SampleOptions): Promise<Result> => {
    const round = options.nextRound();
    const g = call?.numReturnSequences ?? 1;
    const c = options.chunkGroups;
    const parts: Result[] = [];
    for (let first = 0, index = 0; first < prompts.length; first += c, index++) {
      const chunk = prompts.slice(first, first + c);
      const seed = call?.seed === undefined ? undefined : prompts.length <= c ? call.seed : deriveSeed(call.seed, index);
      const part = (await policy.sample(chunk, { ...call, ...(seed === undefined ? {} : { seed }) } as never)) as Result;
      parts.push(part);
      await options.onChunk({ round, firstGroup: first, prompts: chunk, completions: part.texts, numGenerations: g });
    }
    if (parts.length === 1) return parts[0]!;
    const merged: Record<string, unknown[]> = {};
    for (const key of Object.keys(parts[0]!)) merged[key] = parts.flatMap((part) => (part as unknown as Record<string, unknown[]>)[key]!);
    return merged as unknown as Result;
  };
  return new Proxy(policy, {
    get(target, property) {
      if (property === 'sample') return sample;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
