/**
 * The rollout worker (`vlm-grpo-worker`, `nx run trainer:worker`): connects to Redis, loads the
 * diffusion and CLIP models of its configuration once, and processes the run's BullMQ jobs
 * (`group`, `render`, `score`; see job-schema.ts) one at a time (concurrency 1: one worker per
 * GPU; run several on one GPU to overlap their CPU and GPU work).
 *
 * - Refusal: a worker whose {@link rolloutConfigHash} differs from the run's (read from the
 *   run's record at start, and from every job) takes no job: it puts the job back without
 *   spending an attempt (`moveToDelayed` + `DelayedError`), records the refusal in Redis for the
 *   trainer to log (the keys that differ, e.g. `model_settings.sd_model`), logs it, and stops
 *   with {@link RolloutWorker.done} resolving `refused` (exit status 3 from the CLI).
 * - Bad input: a job over `rollout_settings.max_payload_bytes`, or one that does not parse, fails
 *   at once (`UnrecoverableError`, no retries) with a message naming the size or key; the worker
 *   goes on with the next job. A result over the limit fails the same way.
 * - Crashes: a worker killed mid-job stops renewing its lock; after `lock_duration_s` another
 *   worker's stalled-job check (`stalled_interval_s`) puts the job back in the queue (up to
 *   `max_stalled_count` times). Retries of thrown errors: `rollout_settings.retries`, set by the
 *   trainer on each job.
 * - Shutdown: {@link RolloutWorker.close} (SIGTERM/SIGINT in the CLI) waits for the job in hand,
 *   then closes the connections and releases the models.
 * - Observability: every result names the worker and its render/score seconds (the trainer
 *   reports per-worker throughput); the worker logs its own every `logEverySeconds`.
 * Nothing listens on a port: the worker only connects out to Redis.
 */
import { hostname } from 'node:os';

import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';

import type { TrainerConfig } from '../config/config-schema.js';
import type { Logger } from '../runtime/logger.js';
import { loadRewardModels, type RewardModels } from '../system/load-components.js';
import type { RenderedImage } from '../system/ports.js';
import { identityDifferences, rolloutConfigHash, rolloutIdentity, type RolloutIdentity } from './config-hash.js';
import { errorText, renderAndScoreGroups } from './group-rollout.js';
import {
  ROLLOUT_FORMAT,
  ROLLOUT_QUEUE,
  describeIssues,
  fromWireImage,
  groupJobSchema,
  renderJobSchema,
  scoreJobSchema,
  toWireImage,
  type GroupResult,
  type RenderResult,
  type RolloutResult,
  type ScoreResult,
} from './job-schema.js';
import { closeWithin, redactRedisUrl, redisOptions, redisUrlOf } from './redis-connection.js';
import { imageComponentsOf } from './rollout-backend.js';
import { readRunRecord, recordRefusal, type Refusal } from './run-record.js';

/** Options of {@link RolloutWorker.start}. */
export interface RolloutWorkerOptions {
  /** The resolved configuration (model paths absolute or relative to the working directory). */
  config: TrainerConfig;
  logger: Logger;
  /** Worker id in results, logs and `CLIENT LIST` (default: `<host>-<pid>`). */
  workerId?: string;
  /** Model loader (default: the diffusion and CLIP models of the configuration). */
  loadModels?: (config: TrainerConfig, logger: Logger) => Promise<RewardModels>;
  /** Seconds between throughput log lines (default: 60). */
  logEverySeconds?: number;
}

/** Why a worker stopped. */
export interface WorkerExit {
  reason: 'closed' | 'refused';
  /** The refusal message (for `refused`). */
  message?: string;
}

const CHARS = /[^A-Za-z0-9_.-]/gu;

/** A running rollout worker (see the file header). */
export class RolloutWorker {
  /** Resolves when the worker has stopped (closed or refused the run). */
  readonly done: Promise<WorkerExit>;
  private finish!: (exit: WorkerExit) => void;
  private worker: Worker | undefined;
  private closing: Promise<void> | undefined;
  private jobs = 0;
  private busySeconds = 0;
  private readonly startedAt = performance.now();
  private lastLog = performance.now();
  /** The job being processed (graceful shutdown waits for it). */
  private inHand: Promise<unknown> | undefined;

  private constructor(
    readonly id: string,
    private readonly options: RolloutWorkerOptions,
    private readonly identity: RolloutIdentity,
    readonly configHash: string,
    private readonly queue: Queue,
    private readonly models: RewardModels,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /**
   * Connect, check the run's record, load the models and start taking jobs. A refused worker
   * resolves {@link done} with `refused` without loading models.
   */
  static async start(options: RolloutWorkerOptions): Promise<RolloutWorker> {
    const { config, logger } = options;
    const r = config.rollout_settings;
    const id = (options.workerId ?? `${hostname()}-${process.pid}`).replace(CHARS, '_');
    const url = redisUrlOf(config);
    const identity = await rolloutIdentity(config);
    const hash = rolloutConfigHash(identity);
    const queue = new Queue(ROLLOUT_QUEUE, { connection: redisOptions(config, `vlm-grpo-worker-${id}`), prefix: r.queue_prefix });
    let lastError: string | undefined;
    queue.on('error', (error) => {
      // ioredis retries forever; say each new reason once (wrong password, refused connection…).
      if (error.message !== lastError) logger.warning(`worker ${id}: Redis ${redactRedisUrl(url)}: ${error.message} (retrying)`);
      lastError = error.message;
    });
    logger.info(`worker ${id}: Redis ${redactRedisUrl(url)}, queue ${r.queue_prefix}:${ROLLOUT_QUEUE}, config hash ${hash.slice(0, 12)}`);
    const record = await readRunRecord(queue);
    if (record && record.config_hash !== hash) {
      const worker = new RolloutWorker(id, options, identity, hash, queue, { renderer: undefined!, imageRewards: undefined!, devices: { diffusion: 'not loaded', clip: 'not loaded' }, dispose: async () => undefined });
      await worker.refuse(record.run_id, record.identity);
      return worker;
    }
    const models = await (options.loadModels ?? loadRewardModels)(config, logger);
    logger.info(`worker ${id}: models loaded (diffusion ${models.devices.diffusion}, CLIP ${models.devices.clip})`);
    const worker = new RolloutWorker(id, options, identity, hash, queue, models);
    worker.run();
    return worker;
  }

  private run(): void {
    const r = this.options.config.rollout_settings;
    this.worker = new Worker(ROLLOUT_QUEUE, (job, token) => this.track(this.process(job, token)), {
      connection: redisOptions(this.options.config, `vlm-grpo-worker-${this.id}`),
      prefix: r.queue_prefix,
      name: this.id,
      concurrency: 1,
      lockDuration: r.lock_duration_s * 1000,
      stalledInterval: r.stalled_interval_s * 1000,
      maxStalledCount: r.max_stalled_count,
      // Results stay until the trainer reads and removes them; these bound what an absent trainer leaves.
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600, count: 1000 },
    });
    this.worker.on('failed', (job, error) => {
      if (job && !(error instanceof DelayedError)) this.options.logger.warning(`worker ${this.id}: job ${job.id} (${job.name}) failed: ${error.message}`);
    });
    this.worker.on('error', (error) => this.options.logger.debug(`worker ${this.id}: ${error.message}`));
    this.options.logger.info(`worker ${this.id}: waiting for jobs (lock ${r.lock_duration_s} s, stalled check every ${r.stalled_interval_s} s)`);
  }

  /** Jobs done and busy seconds since the start. */
  stats(): { jobs: number; busySeconds: number; uptimeSeconds: number } {
    return { jobs: this.jobs, busySeconds: this.busySeconds, uptimeSeconds: (performance.now() - this.startedAt) / 1000 };
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inHand = work;
    return work.finally(() => {
      if (this.inHand === work) this.inHand = undefined;
    });
  }

  private async process(job: Job, token: string | undefined): Promise<RolloutResult> {
    const r = this.options.config.rollout_settings;
    const size = Buffer.byteLength(JSON.stringify(job.data ?? null));
    if (size > r.max_payload_bytes) throw new UnrecoverableError(`job ${job.id} (${job.name}): payload of ${size} bytes exceeds rollout_settings.max_payload_bytes (${r.max_payload_bytes})`);
    const schema = job.name === 'group' ? groupJobSchema : job.name === 'render' ? renderJobSchema : job.name === 'score' ? scoreJobSchema : undefined;
    if (!schema) throw new UnrecoverableError(`job ${job.id}: unknown job name "${job.name}" (expected group, render or score)`);
    const raw = job.data as { config_hash?: unknown; run_id?: unknown } | null;
    if (raw !== null && typeof raw === 'object' && typeof raw.config_hash === 'string' && /^[0-9a-f]{64}$/u.test(raw.config_hash) && raw.config_hash !== this.configHash) {
      // Not ours to run: back to the queue without spending an attempt, for a matching worker.
      await job.moveToDelayed(Date.now() + 1000, token);
      const record = await readRunRecord(this.queue).catch(() => undefined);
      void this.refuse(typeof raw.run_id === 'string' ? raw.run_id : 'unknown', record?.config_hash === raw.config_hash ? record.identity : undefined);
      throw new DelayedError();
    }
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`job ${job.id} (${job.name}): bad payload: ${describeIssues(parsed.error)}`);
    const started = performance.now();
    const timings = { render: 0, score: 0 };
    const data = parsed.data;
    let result: RolloutResult;
    const base = { format: ROLLOUT_FORMAT, worker: this.id } as const;
    if (data.kind === 'group') {
      const [outcome] = await renderAndScoreGroups(this.models, [{ original: data.original, rewrites: data.rewrites, seeds: data.seeds }], {
        components: imageComponentsOf(this.options.config),
        returnImages: data.return_images,
        timings,
      });
      const group: GroupResult = { ...base, kind: 'group', rows: outcome!.rows, timings: { ...timings, total: 0 } };
      if (outcome!.images) group.images = outcome!.images.map((list) => list.map((image) => (image ? toWireImage(image) : null)));
      result = group;
    } else if (data.kind === 'render') {
      const t0 = performance.now();
      const out = await this.models.renderer.render(data.prompts, { seeds: data.seeds });
      timings.render = (performance.now() - t0) / 1000;
      if (!Array.isArray(out) || out.length !== data.prompts.length) throw new Error(`renderer returned ${Array.isArray(out) ? out.length : typeof out} items for ${data.prompts.length} prompts`);
      const images: RenderResult['images'] = out.map((item) => (typeof item === 'object' && item !== null && 'data' in item && item.data instanceof Uint8Array ? toWireImage(item as RenderedImage) : { error: errorText(item) }));
      result = { ...base, kind: 'render', images, timings: { ...timings, total: 0 } };
    } else {
      const images = data.images.map((image, index) => fromWireImage(image, `job ${job.id}: images[${index}]`));
      const t0 = performance.now();
      const out = await this.models.imageRewards.components(images, data.originals, data.prompts);
      timings.score = (performance.now() - t0) / 1000;
      const scores: ScoreResult['scores'] = out.map((item) => (item instanceof Error ? { error: item.message } : { components: item }));
      result = { ...base, kind: 'score', scores, timings: { ...timings, total: 0 } };
    }
    const seconds = (performance.now() - started) / 1000;
    result.timings.total = seconds;
    const resultSize = Buffer.byteLength(JSON.stringify(result));
    if (resultSize > r.max_payload_bytes) throw new UnrecoverableError(`job ${job.id} (${job.name}): result of ${resultSize} bytes exceeds rollout_settings.max_payload_bytes (${r.max_payload_bytes})`);
    this.jobs += 1;
    this.busySeconds += seconds;
    this.maybeLog();
    return result;
  }

  private maybeLog(): void {
    const every = this.options.logEverySeconds ?? 60;
    const now = performance.now();
    if ((now - this.lastLog) / 1000 < every) return;
    this.lastLog = now;
    const { jobs, busySeconds, uptimeSeconds } = this.stats();
    this.options.logger.info(`worker ${this.id}: ${jobs} jobs, ${(jobs / Math.max(busySeconds, 1e-9)).toFixed(2)} jobs per busy second, busy ${((100 * busySeconds) / uptimeSeconds).toFixed(0)}% of ${uptimeSeconds.toFixed(0)} s`);
  }

  private async refuse(runId: string, theirs: RolloutIdentity | undefined): Promise<void> {
    if (this.closing) return;
    const differences = theirs ? identityDifferences(this.identity, theirs) : [];
    const message =
      `worker ${this.id} refuses run ${runId}: its configuration hash ${this.configHash.slice(0, 12)} differs from the run's` +
      (differences.length > 0 ? ` (this worker vs the run: ${differences.join('; ')})` : '') +
      '; start the worker with the run\'s configuration (same models, diffusion_settings, image rewards and device)';
    this.options.logger.error(message);
    const refusal: Refusal = { worker: this.id, run_id: runId, message, time: new Date().toISOString() };
    try {
      await recordRefusal(this.queue, refusal);
    } catch (error) {
      this.options.logger.warning(`worker ${this.id}: could not record the refusal in Redis: ${(error as Error).message}`);
    }
    await this.shutdown({ reason: 'refused', message });
  }

  /** Stop taking jobs, wait for the one in hand, release connections and models. */
  close(): Promise<void> {
    return this.shutdown({ reason: 'closed' });
  }

  /** Stop at once: the job in hand is abandoned (its lock expires and another worker takes it). */
  async forceClose(): Promise<void> {
    const worker = this.worker;
    if (worker) await closeWithin([{ close: () => worker.close(true), disconnect: () => worker.disconnect(), client: worker.client }]);
    await this.shutdown({ reason: 'closed' });
  }

  private shutdown(exit: WorkerExit): Promise<void> {
    this.closing ??= (async () => {
      const worker = this.worker;
      if (worker) {
        // Take no new job, let the one in hand finish (a refusal comes from inside a job: no
        // waiting on ourselves), then close. BullMQ's own graceful close can stall on a
        // connection that went through a Redis restart, so the wait is ours and the close forced.
        await worker.pause(true).catch(() => undefined);
        if (exit.reason !== 'refused') await this.inHand?.catch(() => undefined);
        await closeWithin([{ close: () => worker.close(true), disconnect: () => worker.disconnect(), client: worker.client }]);
      }
      await closeWithin([this.queue]);
      await this.models.dispose().catch(() => undefined);
      const { jobs, busySeconds } = this.stats();
      this.options.logger.info(`worker ${this.id}: stopped after ${jobs} jobs (${busySeconds.toFixed(1)} busy seconds)`);
      this.finish(exit);
    })();
    return this.closing;
  }
}
