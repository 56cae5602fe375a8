/**
 * The wire format of rollout jobs (BullMQ job data and return values, JSON in Redis), checked
 * with zod on both sides: a worker rejects a job that does not parse (the error names the key),
 * the trainer rejects a result that does not.
 *
 * Job names (one BullMQ queue, {@link ROLLOUT_QUEUE}):
 * - `group`: one prompt group of a training iteration: the original prompt, its G rewrites and
 *   the image seeds of each rewrite → the mean reward components per rewrite (and the images
 *   when `return_images`).
 * - `render`: prompts and one seed each → images (validation renders originals and rewrites).
 * - `score`: images with their original and rendered prompts → components per image (validation).
 * Images travel as base64 of the raw interleaved pixels (`channels` per pixel, row-major).
 */
import { z } from 'zod';

import { IMAGE_REWARD_NAMES, type RenderedImage } from '../system/ports.js';

/** Version of the job format; a worker refuses other versions. */
export const ROLLOUT_FORMAT = 1;

/** Name of the BullMQ queue (under the run's `queue_prefix`). */
export const ROLLOUT_QUEUE = 'rollouts';

const seed = z.number().int().nonnegative().max(2 ** 32 - 1);

/** Fields every job carries. */
const jobBase = {
  /** {@link ROLLOUT_FORMAT}. */
  format: z.literal(ROLLOUT_FORMAT),
  /** Run id of the trainer. */
  run_id: z.string().min(1),
  /** Trainer session (changes on every start, also with --resume): results of older sessions are dropped. */
  session: z.string().min(1),
  /** {@link rolloutConfigHash} of the trainer: a worker with another hash refuses the job. */
  config_hash: z.string().regex(/^[0-9a-f]{64}$/u),
};

/** A pixel buffer on the wire. */
export const wireImageSchema = z.strictObject({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  channels: z.union([z.literal(3), z.literal(4)]),
  /** Base64 of width × height × channels bytes. */
  data: z.string(),
});

/** An image on the wire. */
export type WireImage = z.infer<typeof wireImageSchema>;

/** `group` job data. */
export const groupJobSchema = z
  .strictObject({
    ...jobBase,
    kind: z.literal('group'),
    /** Iteration (0-based) of the trainer. */
    iteration: z.number().int().nonnegative(),
    /** Generation round inside the iteration (DAPO refills; 0 otherwise). */
    round: z.number().int().nonnegative(),
    /** Index of the group in its round's batch. */
    group: z.number().int().nonnegative(),
    /** The user's original prompt (relevance is scored against it). */
    original: z.string(),
    /** The G rewrites. */
    rewrites: z.array(z.string()).min(1),
    /** Seeds of the images of each rewrite, [G][images_per_prompt]. */
    seeds: z.array(z.array(seed).min(1)).min(1),
    /** Return the rendered images too (default: false). */
    return_images: z.boolean().default(false),
  })
  .refine((job) => job.seeds.length === job.rewrites.length, { message: 'seeds must have one list per rewrite', path: ['seeds'] });

/** `group` job data. */
export type GroupJob = z.infer<typeof groupJobSchema>;

/** `render` job data. */
export const renderJobSchema = z
  .strictObject({
    ...jobBase,
    kind: z.literal('render'),
    prompts: z.array(z.string()).min(1),
    seeds: z.array(seed).min(1),
  })
  .refine((job) => job.seeds.length === job.prompts.length, { message: 'one seed per prompt', path: ['seeds'] });

/** `render` job data. */
export type RenderJob = z.infer<typeof renderJobSchema>;

/** `score` job data. */
export const scoreJobSchema = z
  .strictObject({
    ...jobBase,
    kind: z.literal('score'),
    images: z.array(wireImageSchema).min(1),
    originals: z.array(z.string()),
    prompts: z.array(z.string()),
  })
  .refine((job) => job.originals.length === job.images.length && job.prompts.length === job.images.length, { message: 'one original and one prompt per image', path: ['prompts'] });

/** `score` job data. */
export type ScoreJob = z.infer<typeof scoreJobSchema>;

/** Any job. */
export const rolloutJobSchema = z.union([groupJobSchema, renderJobSchema, scoreJobSchema]);

/** Any job. */
export type RolloutJob = z.infer<typeof rolloutJobSchema>;

const components = z.partialRecord(z.enum(IMAGE_REWARD_NAMES), z.number());
const itemFailure = z.strictObject({ stage: z.enum(['rendering', 'scoring']), message: z.string() });

/** One rewrite's outcome: mean components over its images, or why it failed. */
export const rowOutcomeSchema = z.union([z.strictObject({ components }), itemFailure]);

/** One rewrite's outcome. */
export type RowOutcome = z.infer<typeof rowOutcomeSchema>;

/** What a worker says about itself and the work in each result. */
const resultBase = {
  format: z.literal(ROLLOUT_FORMAT),
  /** Worker id (`host-pid` unless set). */
  worker: z.string(),
  /** Seconds rendering and scoring inside the worker. */
  timings: z.strictObject({ render: z.number().nonnegative(), score: z.number().nonnegative(), total: z.number().nonnegative() }),
};

/** `group` result. */
export const groupResultSchema = z.strictObject({
  ...resultBase,
  kind: z.literal('group'),
  rows: z.array(rowOutcomeSchema),
  /** [G][images_per_prompt] images (null where rendering failed) when the job asked. */
  images: z.array(z.array(wireImageSchema.nullable())).optional(),
});

/** `group` result. */
export type GroupResult = z.infer<typeof groupResultSchema>;

/** `render` result: one image or error per prompt. */
export const renderResultSchema = z.strictObject({
  ...resultBase,
  kind: z.literal('render'),
  images: z.array(z.union([wireImageSchema, z.strictObject({ error: z.string() })])),
});

/** `render` result. */
export type RenderResult = z.infer<typeof renderResultSchema>;

/** `score` result: components or error per image. */
export const scoreResultSchema = z.strictObject({
  ...resultBase,
  kind: z.literal('score'),
  scores: z.array(z.union([z.strictObject({ components }), z.strictObject({ error: z.string() })])),
});

/** `score` result. */
export type ScoreResult = z.infer<typeof scoreResultSchema>;

/** Any result. */
export type RolloutResult = GroupResult | RenderResult | ScoreResult;

/** Encode an image for the wire. */
export function toWireImage(image: RenderedImage): WireImage {
  const channels = image.channels ?? 3;
  return { width: image.width, height: image.height, channels, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength).toString('base64') };
}

/**
 * Decode a wire image; throws when the byte count does not match its size.
 * @param where names the image in the error (e.g. `result.images[2]`).
 */
export function fromWireImage(image: WireImage, where: string): RenderedImage {
  const data = new Uint8Array(Buffer.from(image.data, 'base64'));
  const expected = image.width * image.height * image.channels;
  if (data.length !== expected) throw new Error(`${where}: ${data.length} bytes for a ${image.width}×${image.height}×${image.channels} image (expected ${expected})`);
  return { width: image.width, height: image.height, channels: image.channels, data };
}

/** Describe a zod error as `key: message` lines (first 5). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? '(root)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}
