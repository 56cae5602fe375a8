/**
 * Unit tests of the rollout pieces that need no Redis: URL handling, the config hash, the job
 * schemas and wire images, chunked sampling, and the shared group rollout (against the local path).
 * redis.test.ts runs the real thing.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { trainerConfigSchema } from '../config/config-schema.js';
import { chunkedSampling } from './chunked-policy.js';
import { canonicalJson, identityDifferences, modelFingerprint, rolloutConfigHash, rolloutIdentity } from './config-hash.js';
import { renderAndScoreGroups } from './group-rollout.js';
import { fromWireImage, groupJobSchema, toWireImage } from './job-schema.js';
import { redactRedisUrl, redisOptions, redisUrlOf } from './redis-connection.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-rollout-unit-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('Redis URL', () => {
  it('takes the config, else VLM_GRPO_REDIS_URL, else localhost; never shows the password', () => {
    const config = trainerConfigSchema.parse({ rollout_settings: { backend: 'redis' } });
    expect(redisUrlOf(config, {})).toBe('redis://127.0.0.1:6379');
    expect(redisUrlOf(config, { VLM_GRPO_REDIS_URL: 'rediss://:pw@cache:6380/2' })).toBe('rediss://:pw@cache:6380/2');
    expect(() => redisUrlOf(config, { VLM_GRPO_REDIS_URL: 'http://cache' })).toThrow(/VLM_GRPO_REDIS_URL: expected redis:\/\/host:port/u);
    expect(() => trainerConfigSchema.parse({ rollout_settings: { redis_url: 'cache:6379' } })).toThrow(/redis:\/\/ or rediss:\/\//u);
    expect(redactRedisUrl('redis://:s3cret@h:1')).toBe('redis://:***@h:1');
    expect(redactRedisUrl('redis://user:s3cret@h:1/0')).toBe('redis://user:***@h:1/0');
    expect(redactRedisUrl('redis://h:1')).toBe('redis://h:1');
    const options = redisOptions(trainerConfigSchema.parse({ rollout_settings: { redis_url: 'redis://alice:p%40ss@10.0.0.5:6390/3' } }), 'test');
    expect(options).toMatchObject({ host: '10.0.0.5', port: 6390, db: 3, username: 'alice', password: 'p@ss', maxRetriesPerRequest: null });
    expect(options.tls).toBeUndefined();
    expect(redisOptions(trainerConfigSchema.parse({ rollout_settings: { redis_url: 'rediss://h' } }), 'test').tls).toEqual({});
    expect(() => redisOptions(trainerConfigSchema.parse({ rollout_settings: { redis_url: 'rediss://h', redis_tls_ca_file: join(folder, 'missing.pem') } }), 'test')).toThrow(/redis_tls_ca_file: cannot read/u);
  });
});

describe('config hash', () => {
  it('is the same for copies of a model in different folders, and names the keys that differ', async () => {
    const a = join(folder, 'a', 'model');
    const b = join(folder, 'b', 'elsewhere');
    for (const dir of [a, b]) {
      await mkdir(join(dir, 'unet'), { recursive: true });
      await writeFile(join(dir, 'model_index.json'), '{"x":1}');
      await writeFile(join(dir, 'unet', 'model.onnx'), Buffer.alloc(1000, 7));
    }
    expect(await modelFingerprint(a)).toBe(await modelFingerprint(b));
    expect(await modelFingerprint('org/some-model')).toBe('hub:org/some-model');
    await writeFile(join(b, 'unet', 'model.onnx'), Buffer.alloc(1000, 8));
    expect(await modelFingerprint(a)).not.toBe(await modelFingerprint(b));

    const base = trainerConfigSchema.parse({ model_settings: { sd_model: a, clip_model: a } });
    const same = trainerConfigSchema.parse({ model_settings: { sd_model: a, clip_model: a }, reward_settings: { length_in_range: { weight: 5 } }, rollout_settings: { backend: 'redis' } });
    const steps = trainerConfigSchema.parse({ model_settings: { sd_model: a, clip_model: a }, diffusion_settings: { steps: 2 } });
    const ours = await rolloutIdentity(base);
    // Text rewards and rollout settings are the trainer's business: same hash.
    expect(rolloutConfigHash(await rolloutIdentity(same))).toBe(rolloutConfigHash(ours));
    const theirs = await rolloutIdentity(steps);
    expect(rolloutConfigHash(theirs)).not.toBe(rolloutConfigHash(ours));
    expect(identityDifferences(ours, theirs)).toEqual([expect.stringMatching(/^diffusion_settings: \{.*"steps":4.*\} vs \{.*"steps":2.*\}$/u)]);
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });
});

describe('job schemas', () => {
  it('names the key of a bad job and round-trips images', () => {
    const job = { format: 1, run_id: 'r', session: 's', config_hash: 'a'.repeat(64), kind: 'group', iteration: 0, round: 0, group: 1, original: 'a cat', rewrites: ['x', 'y'], seeds: [[1]] };
    const parsed = groupJobSchema.safeParse(job);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual(['seeds']);
    expect(groupJobSchema.parse({ ...job, seeds: [[1], [1]] }).return_images).toBe(false);
    const image = { width: 2, height: 1, channels: 3 as const, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    expect(fromWireImage(toWireImage(image), 'x')).toEqual(image);
    expect(() => fromWireImage({ ...toWireImage(image), width: 3 }, 'result.images[0]')).toThrow(/result\.images\[0\]: 6 bytes for a 3×1×3 image/u);
  });
});

describe('chunked sampling', () => {
  const policy = {
    calls: [] as { prompts: string[]; seed: number | undefined }[],
    async sample(prompts: string[], options?: { numReturnSequences?: number; seed?: number }) {
      this.calls.push({ prompts, seed: options?.seed });
      const g = options?.numReturnSequences ?? 1;
      const rows = prompts.flatMap((prompt) => Array.from({ length: g }, (_, k) => `${prompt}/${k}/${options?.seed}`));
      return { texts: rows, truncated: rows.map(() => false), promptIds: rows.map(() => [1]) };
    },
    name: 'inner',
  };
  it('samples chunk by chunk with derived seeds, hands each chunk over, and merges prompt-major', async () => {
    const chunks: { round: number; firstGroup: number; prompts: string[]; completions: string[] }[] = [];
    let round = 0;
    const wrapped = chunkedSampling(policy, { chunkGroups: 2, nextRound: () => round++, onChunk: async (chunk) => void chunks.push(chunk) });
    const out = await wrapped.sample(['a', 'b', 'c'], { numReturnSequences: 2, seed: 5 });
    expect(policy.calls.map((call) => call.prompts)).toEqual([['a', 'b'], ['c']]);
    expect(new Set(policy.calls.map((call) => call.seed)).size).toBe(2);
    expect(out.texts).toHaveLength(6);
    expect(out.texts.slice(0, 4)).toEqual(chunks[0]!.completions);
    expect(chunks.map((chunk) => [chunk.round, chunk.firstGroup])).toEqual([
      [0, 0],
      [0, 2],
    ]);
    expect(out.promptIds).toHaveLength(6);
    expect(wrapped.name).toBe('inner');
    // A batch that fits one chunk keeps the call's own seed: the unchunked rewrites.
    policy.calls = [];
    await wrapped.sample(['a', 'b'], { numReturnSequences: 2, seed: 5 });
    expect(policy.calls).toEqual([{ prompts: ['a', 'b'], seed: 5 }]);
  });
});

describe('renderAndScoreGroups', () => {
  it('averages images per rewrite, fails a rewrite whose image failed, and scores empty rewrites with the original', async () => {
    const seen: string[][] = [];
    const renderer = {
      render: async (prompts: string[], options: { seeds: number[] }) =>
        prompts.map((prompt, i) => (prompt === 'broken' ? new Error('NaN latents') : { width: 1, height: 1, channels: 3 as const, data: Uint8Array.from([options.seeds[i]!, 0, 0]) })),
    };
    const imageRewards = {
      components: async (images: { data: Uint8Array }[], originals: string[], prompts: string[]) => {
        seen.push(prompts);
        return images.map((image, i) => ({ relevance_to_original: image.data[0]!, similarity: originals[i]!.length }));
      },
    };
    const timings = { render: 0, score: 0 };
    const [outcome] = await renderAndScoreGroups({ renderer, imageRewards }, [{ original: 'a cat', rewrites: ['x', '', 'broken'], seeds: [[2, 4], [6, 6], [1, 1]] }], { components: ['relevance_to_original', 'similarity'], returnImages: true, timings });
    expect(outcome!.rows).toEqual([{ components: { relevance_to_original: 3, similarity: 5 } }, { components: { relevance_to_original: 6, similarity: 5 } }, { stage: 'rendering', message: 'NaN latents' }]);
    expect(seen).toEqual([['x', 'x', 'a cat', 'a cat']]);
    expect(outcome!.images!.map((list) => list.map((image) => image === null))).toEqual([[false, false], [false, false], [true, true]]);
    expect(timings.render).toBeGreaterThan(0);
  });
});
