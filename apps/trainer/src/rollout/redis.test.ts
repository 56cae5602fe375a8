/**
 * Distributed rollouts with the real thing: a `redis-server` on a free 127.0.0.1 port (with
 * `requirepass`), worker processes (`worker-cli.ts` through the TypeScript loader), the trainer
 * in this process, the tiny models of the end-to-end tests. Every distributed run is compared
 * with a local run of the same seed: the metrics' rewards and the policy weights must be equal
 * byte for byte. Fails (never skips) without redis-server; only TLS is skipped when this
 * redis-server was built without it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { trainerConfigSchema, type TrainerConfigInput } from '../config/config-schema.js';
import { TrainerError } from '../errors.js';
import { finalResultsSchema, metricsLineSchema } from '../results/schemas.js';
import { Logger } from '../runtime/logger.js';
import { VLMGRPOSystem } from '../vlm-grpo-system.js';
import { RedisServer, redisHasTls, selfSignedCertificate } from '../__fixtures__/redis-server.js';
import { TINY_DEFAULT_CONFIG } from '../__fixtures__/test-components.js';
import { resolveTrainerConfig, type JsonObject } from '../config/load-config.js';
import { rolloutConfigHash, rolloutIdentity } from './config-hash.js';
import { ROLLOUT_FORMAT, ROLLOUT_QUEUE, type GroupJob } from './job-schema.js';
import { RedisRolloutBackend } from './redis-backend.js';
import { redisOptions } from './redis-connection.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '../../../..');
const tinyPolicy = join(repoRoot, 'packages', 'vlm', 'src', '__fixtures__', 'tiny-gpt2');
const PASSWORD = 'rollout test secret';

let folder: string;
let redis: RedisServer;
const children = new Set<ChildProcess>();
/** Two workers shared by the tests that need no special worker (they live through Redis restarts). */
let pool: WorkerProcess[] = [];

/** The end-to-end tests' tiny settings, with fast lock expiry for the kill tests. */
const tiny = (output: string, rollout: Record<string, unknown> = {}, iterations = 3): TrainerConfigInput => ({
  model_settings: { vlm_model: tinyPolicy, device: 'cpu' },
  training_settings: { num_iterations: iterations, batch_size: 2, num_generations: 2, validation_every: 2, checkpoint_every: 1, keep_checkpoints: 5, learning_rate: 1e-3, seed: 7 },
  generation_settings: { max_new_tokens: 16 },
  diffusion_settings: { steps: 1 },
  validation_settings: { num_prompts: 2 },
  output_settings: { output_dir: output },
  logging_settings: { progress_bar: 'never', level: 'DEBUG' },
  rollout_settings: rollout,
});

const distributed = (extra: Record<string, unknown> = {}) => ({
  backend: 'redis',
  redis_url: redis.url(),
  lock_duration_s: 2,
  stalled_interval_s: 1,
  job_timeout_s: 120,
  redis_timeout_s: 60,
  ...extra,
});

const train = async (config: TrainerConfigInput, options: { resume?: boolean; onIteration?: (iteration: number) => Promise<void> } = {}) => {
  const system = new VLMGRPOSystem(config, { defaultConfigFile: TINY_DEFAULT_CONFIG,
    baseDirectory: repoRoot,
    logger: new Logger({ level: 'DEBUG', console: null }),
    ...(options.resume ? { resume: true } : {}),
    ...(options.onIteration ? { onIteration: (iteration: number) => options.onIteration!(iteration) } : {}),
  });
  try {
    return await system.runTraining();
  } finally {
    await system.dispose();
  }
};

interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

const startWorker = async (id: string, config: TrainerConfigInput, extra: string[] = [], waitReady = true): Promise<WorkerProcess> => {
  const file = join(folder, `worker-${id}.json`);
  // the worker resolves its file over config/default_config.json: give it every key of the
  // trainer's resolved configuration (over the tests' base file), so both sides run the same models
  const resolved = await resolveTrainerConfig({ defaultConfigFile: TINY_DEFAULT_CONFIG, config: config as JsonObject });
  await writeFile(file, JSON.stringify({ ...resolved, output_settings: undefined }));
  const child = spawn(process.execPath, ['--conditions=@vlm-grpo/source', '--import', join(here, '..', '__fixtures__', 'ts-register.mjs'), join(here, 'worker-cli.ts'), '--config', file, '--worker-id', id, ...extra], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    }),
  );
  const worker = { child, output: () => output, exited };
  if (waitReady) await waitFor(() => output.includes('waiting for jobs') || child.exitCode !== null, `worker ${id} to start`);
  if (waitReady && child.exitCode !== null) throw new Error(`worker ${id} exited:\n${output}`);
  return worker;
};

const stopWorker = async (worker: WorkerProcess) => {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  return worker.exited;
};

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 10));
  }
}

const lines = async (run: string) =>
  (await readFile(join(run, 'metrics.jsonl'), 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => metricsLineSchema.parse(JSON.parse(line)));

/** What must not depend on where rollouts ran: rewards, advantages' effects, losses. */
const learning = async (run: string) =>
  (await lines(run)).map((line) => Object.fromEntries(Object.entries(line.metrics).filter(([key]) => key === 'reward' || key === 'reward_std' || key === 'kl' || key === 'loss' || key.startsWith('rewards/'))));

const weights = (run: string, iteration: number) => readFile(join(run, `checkpoint_iter_${iteration}`, 'policy', 'model.safetensors'));

const expectSameRun = async (run: string, reference: string, iteration = 3) => {
  expect(await learning(run)).toEqual(await learning(reference));
  expect(Buffer.compare(await weights(run, iteration), await weights(reference, iteration))).toBe(0);
};

const testQueue = () => new Queue(ROLLOUT_QUEUE, { connection: redisOptions(trainerConfigSchema.parse(tiny('x', distributed())), 'vlm-grpo-test'), prefix: 'vlm-grpo' });

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-rollout-'));
  redis = await RedisServer.start({ password: PASSWORD });
}, 30_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis?.stop();
  await rm(folder, { recursive: true, force: true });
});

describe('rollouts on Redis with worker processes', { timeout: 600_000 }, () => {
  const local0 = () => join(folder, 'local-0');
  const local1 = () => join(folder, 'local-1');

  it('gives the same rewards and final weights as the local backend (2 workers, chunked and unchunked generation)', async () => {
    await train(tiny(local0()));
    await train(tiny(local1(), { generation_chunk_groups: 1 }));
    pool = await Promise.all(['w1', 'w2'].map((id) => startWorker(id, tiny('unused', distributed()))));
    {
      const run = join(folder, 'redis-0');
      const results = await train(tiny(run, distributed()));
      expect(results.status).toBe('completed');
      expect(results.devices).toMatchObject({ diffusion: 'redis workers', clip: 'redis workers' });
      await expectSameRun(run, local0());
      // Validation ran on the workers (render and score jobs) and agrees too.
      expect(results.validations.map((v) => v.enhanced_mean_reward)).toEqual(finalResultsSchema.parse(JSON.parse(await readFile(join(local0(), 'final_results.json'), 'utf8'))).validations.map((v) => v.enhanced_mean_reward));
      const metrics = await lines(run);
      for (const line of metrics) {
        expect(line.metrics['rollout/groups']).toBe(2);
        expect(line.metrics['rollout/workers']).toBeGreaterThanOrEqual(1);
        expect(line.metrics['rollout/workers_connected']).toBe(2);
        expect(Object.keys(line.metrics).some((key) => /^rollout\/worker\/w\d\/jobs_per_busy_s$/u.test(key))).toBe(true);
      }
      const log = await readFile(join(run, 'vlm_grpo_training.log'), 'utf8');
      expect(log).toMatch(/INFO iteration 1: rollouts: 2 groups on \d worker\(s\) \[w\d/u);
      expect(log).not.toContain(PASSWORD);

      // Overlap: chunks of one group are enqueued as they are sampled; same as local chunked.
      const chunked = join(folder, 'redis-1');
      await train(tiny(chunked, distributed({ generation_chunk_groups: 1 })));
      await expectSameRun(chunked, local1());
      // Chunking changes the rewrites (per-chunk seeds), so the two local runs differ.
      expect(await learning(local1())).not.toEqual(await learning(local0()));
    }
  });

  it('waits through a Redis restart mid-run (jobs lost and enqueued again) and ends with identical results', async () => {
    const queue = testQueue();
    const run = join(folder, 'redis-restart');
    try {
      let restarted: Promise<void> | undefined;
      const results = await train(tiny(run, distributed()), {
        onIteration: async (iteration) => {
          if (iteration !== 1) return;
          // Restart Redis while iteration 2's jobs are in the queue or running.
          restarted = (async () => {
            await waitFor(async () => {
              const counts = await queue.getJobCounts('waiting', 'active');
              return (counts['waiting'] ?? 0) + (counts['active'] ?? 0) > 0;
            }, 'iteration 2 jobs');
            await redis.restart();
          })();
        },
      });
      await restarted;
      expect(results.status).toBe('completed');
    } finally {
      await queue.close();
    }
    await expectSameRun(run, local0());
    const log = await readFile(join(run, 'vlm_grpo_training.log'), 'utf8');
    expect(log).toMatch(/missing from Redis \(restarted\?\); enqueued again|unreachable/u);
  });

  it('fails clearly when Redis stays away past redis_timeout_s, keeps its checkpoints, and --resume continues on a clean queue', async () => {
    const run = join(folder, 'redis-outage');
    const config = tiny(run, distributed({ redis_timeout_s: 3 }));
    let error: unknown;
    try {
      await train(config, {
        onIteration: async (iteration) => {
          // After iteration 1 (its checkpoint is written next, without Redis), Redis goes away for good.
          if (iteration === 1) await redis.kill();
        },
      });
    } catch (caught) {
      error = caught;
    }
    expect(TrainerError.isInstance(error) && error.code).toBe('TRAINER_ROLLOUT_UNAVAILABLE');
    expect((error as Error).message).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ /u);
    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(run, 'final_results.json'), 'utf8')));
    expect(final.status).toBe('failed');
    expect(final.message).toContain('continue with --resume');
    expect(final.files.checkpoints).toEqual(['checkpoint_iter_1']);
    expect(existsSync(join(run, 'checkpoint_iter_2'))).toBe(false);

    await redis.restart();
    // Leftovers of a dead session: a stale job with this run's next job id must not be taken as a result.
    const queue = testQueue();
    await queue.add('group', { format: ROLLOUT_FORMAT, stale: true }, { jobId: 'leftover' });
    try {
      const results = await train(config, { resume: true });
      expect(results.status).toBe('completed');
      expect(results.iterations).toEqual({ completed: 3, planned: 3, resumed_from: 1 });
      expect(await queue.getJob('leftover')).toBeUndefined();
    } finally {
      await queue.close();
    }
    await expectSameRun(run, local0());
    // The pool lived through two Redis restarts; SIGTERM stops each after its job in hand.
    const exits = await Promise.all(pool.map(stopWorker));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
    for (const worker of pool) expect(worker.output()).toMatch(/stopped after \d+ jobs/u);
  });

  it('recovers the job of a worker killed with SIGKILL mid-job and ends with identical results', async () => {
    const victim = await startWorker('victim', tiny('unused', distributed()));
    const queue = testQueue();
    const run = join(folder, 'redis-kill');
    let survivor: WorkerProcess | undefined;
    const training = train(tiny(run, distributed({ generation_chunk_groups: 1 })));
    try {
      // Freeze the victim while it holds a job, check the job is still active, then kill it.
      await waitFor(async () => (await queue.getActiveCount()) > 0, 'a job in the victim worker');
      victim.child.kill('SIGSTOP');
      expect(await queue.getActiveCount()).toBe(1);
      victim.child.kill('SIGKILL');
      expect((await victim.exited).signal).toBe('SIGKILL');
      survivor = await startWorker('survivor', tiny('unused', distributed()));
      const results = await training;
      expect(results.status).toBe('completed');
    } finally {
      await queue.close();
      if (survivor) await stopWorker(survivor);
    }
    await expectSameRun(run, local1());
    const metrics = await lines(run);
    expect(metrics.reduce((sum, line) => sum + (line.metrics['rollout/stalled'] ?? 0), 0)).toBeGreaterThanOrEqual(1);
    expect(await readFile(join(run, 'vlm_grpo_training.log'), 'utf8')).toContain('stalled (its worker stopped renewing the lock');
  });

  it('refuses a worker with another model, naming the key, while the run holds the queue', async () => {
    const otherModel = join(folder, 'other-tiny-sd');
    await cp(join(repoRoot, 'data', 'models', 'tiny-sd'), otherModel, { recursive: true });
    const index = join(otherModel, 'model_index.json');
    await writeFile(index, `${await readFile(index, 'utf8')}\n`);
    const config = tiny('unused', distributed());
    const backend = await RedisRolloutBackend.open({ config: trainerConfigSchema.parse({ ...config, model_settings: { ...config.model_settings, sd_model: join(repoRoot, 'data/models/tiny-sd'), clip_model: join(repoRoot, 'data/models/tiny-clip') } }), logger: new Logger({ console: null }), runId: 'refusal-run' });
    try {
      const wrong = await startWorker('wrong', config, ['--model_settings.sd_model', otherModel], false);
      const exit = await wrong.exited;
      expect(exit.code, wrong.output()).toBe(3);
      expect(wrong.output()).toMatch(/worker wrong refuses run refusal-run: .*model_settings\.sd_model: "sha256:[0-9a-f]+" vs "sha256:[0-9a-f]+"/u);
    } finally {
      await backend.close();
    }
  });

  it('rejects bad and oversized payloads without taking the worker down, and runs duplicate ids once', async () => {
    const config = trainerConfigSchema.parse(tiny('unused', distributed({ max_payload_bytes: 4096 })));
    const absolute = { ...config, model_settings: { ...config.model_settings, sd_model: join(repoRoot, 'data/models/tiny-sd'), clip_model: join(repoRoot, 'data/models/tiny-clip') } };
    const hash = rolloutConfigHash(await rolloutIdentity(absolute));
    const worker = await startWorker('strict', tiny('unused', distributed({ max_payload_bytes: 4096 })));
    const queue = testQueue();
    const good = (original: string): GroupJob => ({ format: ROLLOUT_FORMAT, run_id: 'payload-run', session: 's', config_hash: hash, kind: 'group', iteration: 0, round: 0, group: 0, original, rewrites: ['a red cube', 'a blue ball'], seeds: [[1], [1]], return_images: false });
    try {
      const bad = await queue.add('group', { ...good('a cat'), rewrites: 'not a list' }, { jobId: 'bad', attempts: 3 });
      const big = await queue.add('group', good('x'.repeat(8000)), { jobId: 'big', attempts: 3 });
      const ok = await queue.add('group', good('a cat'), { jobId: 'ok' });
      const duplicate = await queue.add('group', good('a dog'), { jobId: 'ok' });
      expect(duplicate.id).toBe(ok.id);
      await waitFor(async () => (await queue.getJobCounts('completed')).completed === 1 && (await queue.getJobCounts('failed')).failed === 2, 'the three jobs');
      const [badJob, bigJob, okJob] = await Promise.all([queue.getJob(bad.id!), queue.getJob(big.id!), queue.getJob(ok.id!)]);
      expect(badJob!.failedReason).toMatch(/job bad \(group\): bad payload: rewrites: /u);
      expect(badJob!.attemptsMade).toBe(1);
      expect(bigJob!.failedReason).toMatch(/job big \(group\): payload of \d+ bytes exceeds rollout_settings\.max_payload_bytes \(4096\)/u);
      expect((okJob!.returnvalue as { rows: unknown[]; worker: string }).worker).toBe('strict');
      expect((okJob!.returnvalue as { rows: unknown[] }).rows).toHaveLength(2);
      expect(worker.child.exitCode).toBeNull();
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      await stopWorker(worker);
    }
  });

  it('authenticates: a wrong password fails with a clear error and no password in it', async () => {
    const config = trainerConfigSchema.parse(tiny('unused', distributed({ redis_url: redis.url('wrong password'), redis_timeout_s: 2 })));
    const error = await RedisRolloutBackend.open({ config, logger: new Logger({ console: null }), runId: 'auth-run' }).catch((caught: unknown) => caught);
    expect(TrainerError.isInstance(error) && error.code).toBe('TRAINER_ROLLOUT_UNAVAILABLE');
    expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/u);
    expect((error as Error).message).not.toContain('wrong password');
  });

  it.skipIf(!redisHasTls())('works over rediss:// (TLS with a self-signed certificate, password auth)', async () => {
    const tls = selfSignedCertificate(folder);
    const secure = await RedisServer.start({ password: PASSWORD, tls });
    const rollout = distributed({ redis_url: secure.url(), redis_tls_ca_file: tls.ca, queue_prefix: 'tls-test' });
    const worker = await startWorker('tls', tiny('unused', rollout));
    const config = trainerConfigSchema.parse(tiny('unused', rollout));
    const absolute = { ...config, model_settings: { ...config.model_settings, sd_model: join(repoRoot, 'data/models/tiny-sd'), clip_model: join(repoRoot, 'data/models/tiny-clip') } };
    const backend = await RedisRolloutBackend.open({ config: absolute, logger: new Logger({ console: null }), runId: 'tls-run' });
    try {
      const [image] = await backend.renderer.render(['a red cube'], { seeds: [3] });
      expect(image).toMatchObject({ width: 64, height: 64, channels: 3 });
    } finally {
      await backend.close();
      await stopWorker(worker);
      await secure.stop();
    }
  });
});
