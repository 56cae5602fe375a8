/**
 * Rendering and scoring of prompt groups: the one implementation both backends run (the local
 * backend in the trainer, the Redis worker for each `group` job), so a distributed run computes
 * exactly what a local one does.
 *
 * Per group: every (rewrite, seed) image is rendered in one renderer call, every image that
 * rendered is scored in one image-reward call against the user's ORIGINAL prompt (relevance) and
 * the rewrite (similarity; an empty rewrite is scored with the original prompt's text, its image
 * comes from the empty prompt), and a rewrite's components are the mean over its images. A
 * rewrite fails as a whole when any of its images fails (a partial mean would not compare with
 * the rest of the group); the first failure's stage and message are kept.
 * With several groups, the images of group k+1 are rendered while group k is scored (both are
 * ONNX Runtime sessions running outside the JS thread).
 */
import type { RowOutcome } from './job-schema.js';
import type { ImageRenderer, ImageRewardModel, ImageRewardName, RenderedImage, RewardComponents } from '../system/ports.js';

/** One prompt group to render and score. */
export interface RolloutGroup {
  /** The user's original prompt. */
  original: string;
  /** The G rewrites. */
  rewrites: string[];
  /** Seeds of the images of each rewrite, [G][images_per_prompt]. */
  seeds: number[][];
}

/** Result of one group. */
export interface GroupOutcome {
  /** One outcome per rewrite. */
  rows: RowOutcome[];
  /** [G][images_per_prompt] rendered images (null where rendering failed), when asked for. */
  images?: (RenderedImage | null)[][];
  /** Images scored. */
  imagesScored: number;
}

/** Busy seconds of one call of {@link renderAndScoreGroups}. */
export interface GroupTimings {
  /** Seconds rendering (summed over groups). */
  render: number;
  /** Seconds scoring (summed over groups). */
  score: number;
}

/** Options of {@link renderAndScoreGroups}. */
export interface GroupRolloutOptions {
  /** The image components in use (a row misses none of them, else it fails). */
  components: readonly ImageRewardName[];
  /** Keep the rendered images in the outcome (default: false). */
  returnImages?: boolean;
  /** Stops between groups when aborted (the call then rejects). */
  signal?: AbortSignal;
  /** Accumulates busy seconds. */
  timings?: GroupTimings;
}

const isImage = (value: unknown): value is RenderedImage =>
  typeof value === 'object' && value !== null && 'data' in value && 'width' in value && (value as RenderedImage).data instanceof Uint8Array;

/** Message of an item error (an `Error`, `{ error }` or anything else). */
export const errorText = (value: unknown): string =>
  value instanceof Error ? value.message : typeof value === 'object' && value !== null && 'error' in value ? errorText((value as { error: unknown }).error) || String((value as { error: unknown }).error) : String(value);

/** Render and score `groups` (see the file header); one outcome per group, in order. */
export async function renderAndScoreGroups(
  models: { renderer: ImageRenderer; imageRewards: ImageRewardModel },
  groups: readonly RolloutGroup[],
  options: GroupRolloutOptions,
): Promise<GroupOutcome[]> {
  const timings = options.timings ?? { render: 0, score: 0 };
  const { signal } = options;
  const chunks = groups.map((group) => ({
    group,
    jobs: group.rewrites.flatMap((_, row) => group.seeds[row]!.map((seed) => ({ row, seed }))),
    failed: new Map<number, { stage: 'rendering' | 'scoring'; message: string }>(),
  }));
  type Chunk = (typeof chunks)[number];
  const fail = (chunk: Chunk, row: number, stage: 'rendering' | 'scoring', message: string) => {
    if (!chunk.failed.has(row)) chunk.failed.set(row, { stage, message });
  };
  const render = async (chunk: Chunk): Promise<(RenderedImage | null)[]> => {
    const started = performance.now();
    try {
      signal?.throwIfAborted();
      const out = await models.renderer.render(chunk.jobs.map((job) => chunk.group.rewrites[job.row]!), { seeds: chunk.jobs.map((job) => job.seed), ...(signal ? { signal } : {}) });
      if (!Array.isArray(out) || out.length !== chunk.jobs.length) throw new Error(`renderer returned ${Array.isArray(out) ? out.length : typeof out} items for ${chunk.jobs.length} prompts`);
      return out.map((item, index) => {
        if (isImage(item)) return item;
        fail(chunk, chunk.jobs[index]!.row, 'rendering', errorText(item));
        return null;
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      for (const job of chunk.jobs) fail(chunk, job.row, 'rendering', (error as Error).message);
      return chunk.jobs.map(() => null);
    } finally {
      timings.render += (performance.now() - started) / 1000;
    }
  };
  const score = async (chunk: Chunk, images: (RenderedImage | null)[]): Promise<{ perImage: (RewardComponents | null)[]; scored: number }> => {
    const started = performance.now();
    const present = images.map((image, index) => ({ image, index })).filter((entry): entry is { image: RenderedImage; index: number } => entry.image !== null);
    const perImage: (RewardComponents | null)[] = images.map(() => null);
    if (present.length === 0) return { perImage, scored: 0 };
    try {
      const rows = present.map((entry) => chunk.jobs[entry.index]!.row);
      // An empty rewrite is a valid (poor) answer, not a failure: its image comes from the empty
      // prompt and its similarity is measured against the original prompt.
      const texts = rows.map((row) => (chunk.group.rewrites[row]!.trim() === '' ? chunk.group.original : chunk.group.rewrites[row]!));
      const out = await models.imageRewards.components(
        present.map((entry) => entry.image),
        rows.map(() => chunk.group.original),
        texts,
        signal,
      );
      if (!Array.isArray(out) || out.length !== present.length) throw new Error(`image reward returned ${Array.isArray(out) ? out.length : typeof out} items for ${present.length} images`);
      out.forEach((item, k) => {
        const row = rows[k]!;
        if (item instanceof Error) return fail(chunk, row, 'scoring', item.message);
        const bad = options.components.filter((name) => typeof item[name] !== 'number' || !Number.isFinite(item[name]));
        if (bad.length > 0) return fail(chunk, row, 'scoring', `non-finite or missing reward component(s) ${bad.join(', ')}`);
        perImage[present[k]!.index] = item;
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      for (const entry of present) fail(chunk, chunk.jobs[entry.index]!.row, 'scoring', (error as Error).message);
    } finally {
      timings.score += (performance.now() - started) / 1000;
    }
    return { perImage, scored: present.length };
  };
  const outcome = (chunk: Chunk, images: (RenderedImage | null)[], perImage: (RewardComponents | null)[], scored: number): GroupOutcome => {
    const g = chunk.group.rewrites.length;
    const sums: (RewardComponents | null)[] = Array.from({ length: g }, () => null);
    const counts = new Array<number>(g).fill(0);
    chunk.jobs.forEach((job, j) => {
      const value = perImage[j];
      if (value === null || value === undefined) return;
      const total = (sums[job.row] ??= {});
      for (const name of options.components) total[name] = (total[name] ?? 0) + value[name]!;
      counts[job.row]! += 1;
    });
    const rows: RowOutcome[] = sums.map((sum, row) => {
      const failure = chunk.failed.get(row);
      if (failure) return failure;
      // Every image of a rewrite must succeed: a partial mean would not compare with the group.
      if (sum === null || counts[row] !== chunk.group.seeds[row]!.length) return { stage: 'scoring', message: `${counts[row]} of ${chunk.group.seeds[row]!.length} images scored` };
      return { components: Object.fromEntries(Object.entries(sum).map(([name, value]) => [name, value / counts[row]!])) };
    });
    const result: GroupOutcome = { rows, imagesScored: scored };
    if (options.returnImages) {
      let j = 0;
      result.images = chunk.group.seeds.map((list) => list.map(() => images[j++] ?? null));
    }
    return result;
  };

  const outcomes: GroupOutcome[] = [];
  let next = chunks.length > 0 ? render(chunks[0]!) : undefined;
  for (let c = 0; c < chunks.length; c++) {
    const images = await next!;
    // Render the next group while this one is scored.
    next = c + 1 < chunks.length ? render(chunks[c + 1]!) : undefined;
    const { perImage, scored } = await score(chunks[c]!, images);
    outcomes.push(outcome(chunks[c]!, images, perImage, scored));
  }
  return outcomes;
}
