/**
 * The trainer's side of distributed rollouts (`rollout_settings.backend: redis`): prompt groups
 * become BullMQ jobs on the queue `<queue_prefix>:rollouts`, `vlm-grpo-worker` processes render
 * and score them (worker.ts), and the trainer collects the results.
 *
 * - Start: the trainer claims the queue (a run record with a heartbeat; another live run on the
 *   same prefix is an error naming it), cleans it (`obliterate`, so a `--resume` starts from an
 *   empty queue: jobs of the killed session are gone, a worker still finishing one finds its lock
 *   gone), and publishes its config hash and identity for workers to check.
 * - Jobs: id `<run id>.i<iteration>.r<round>.g<group>.<content digest>`: adding a job that exists
 *   returns the existing one (BullMQ custom ids), so a duplicate submission never runs twice and
 *   the same group always gets the same (idempotent, seeded) result. Job options: `attempts` =
 *   retries + 1 with exponential back-off; completed jobs are removed by the trainer once read,
 *   `removeOnComplete`/`removeOnFail` bound what is left otherwise.
 * - Collection: `QueueEvents` (completed, failed, stalled) wakes the collector, which also polls
 *   every second, so a lost event costs at most a second. A result is checked against its schema
 *   and its job's session; one of another session is dropped (counted as stale). A job missing
 *   from Redis (Redis restarted without persistence) is enqueued again. A group without a result
 *   after `job_timeout_s` fails (its samples are excluded from the iteration), as does a job that
 *   failed all its attempts.
 * - Outages: commands wait while ioredis reconnects; when Redis stays unreachable for
 *   `redis_timeout_s`, every waiting call rejects with `TRAINER_ROLLOUT_UNAVAILABLE` and the
 *   trainer ends the run (its checkpoints stay; continue with --resume).
 * - Overlap: {@link prefetch} enqueues groups as soon as they are sampled (chunked generation),
 *   waiting only while `max_groups_in_flight` groups have no result yet.
 * - Validation: `render` jobs (one image each, images returned) and `score` jobs (images sent).
 * - Observability: per iteration, `rollout/...` metrics and one log line: groups, workers and
 *   each worker's groups per busy second, queue depth (max), stalled and re-enqueued jobs, stale
 *   results, refusals, and the trainer-side Redis time per job. Workers' refusals are logged as
 *   errors when they arrive.
 */
import { createHash, randomBytes } from 'node:crypto';

import { Queue, QueueEvents, type Job } from 'bullmq';

import type { TrainerConfig } from '../config/config-schema.js';
import { TrainerError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { ImageRenderer, ImageRewardModel, ImageRewardName, RenderedImage, RewardComponents } from '../system/ports.js';
import { canonicalJson, rolloutConfigHash, rolloutIdentity, type RolloutIdentity } from './config-hash.js';
import type { GroupOutcome, GroupTimings } from './group-rollout.js';
import {
  ROLLOUT_FORMAT,
  ROLLOUT_QUEUE,
  describeIssues,
  fromWireImage,
  groupResultSchema,
  renderResultSchema,
  scoreResultSchema,
  toWireImage,
  type GroupJob,
  type RenderJob,
  type ScoreJob,
} from './job-schema.js';
import { closeWithin, redactRedisUrl, redisOptions, redisUrlOf, withDeadline } from './redis-connection.js';
import type { RolloutBackend, RolloutKey, RolloutMetrics, RolloutRequest } from './rollout-backend.js';
import { readRunRecord, takeRefusals, writeRunRecord, type RunRecord } from './run-record.js';

type JobName = 'group' | 'render' | 'score';
type JobData = GroupJob | RenderJob | ScoreJob;

/** How a job ended, as the collector saw it. */
type Settled = { ok: true; value: unknown; worker: string; timings: { render: number; score: number; total: number } } | { ok: false; message: string };

interface Pending {
  name: JobName;
  data: JobData;
  enqueuedAt: number;
  settled: Settled | undefined;
  promise: Promise<Settled>;
  resolve: (value: Settled) => void;
  reject: (error: Error) => void;
}

/** Options of {@link RedisRolloutBackend.open}. */
export interface RedisRolloutBackendOptions {
  config: TrainerConfig;
  logger: Logger;
  /** The trainer's run id (job ids and the run record carry it). */
  runId: string;
  /** Seconds between polls of pending jobs (default: 1). */
  pollSeconds?: number;
}

const POLL_DEADLINE_S = 10;
const HEARTBEAT_MS = 5000;

const digest = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 12);

/** Distributed rollouts through Redis and BullMQ (see the file header). */
export class RedisRolloutBackend implements RolloutBackend {
  readonly kind = 'redis';
  readonly renderer: ImageRenderer;
  readonly imageRewards: ImageRewardModel;
  /** Set once Redis stayed unreachable past `redis_timeout_s`: the run cannot go on. */
  failure: TrainerError | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly url: string;
  private readonly session = randomBytes(4).toString('hex');
  private readonly startedAt = new Date().toISOString();
  private closed = false;
  private wake: () => void = () => undefined;
  private slotWaiters: (() => void)[] = [];
  private lastOk = performance.now();
  private warnedOutage = false;
  private lastHeartbeat = 0;
  private loop: Promise<void> | undefined;
  private stats = RedisRolloutBackend.emptyStats();

  private static emptyStats() {
    return { groups: 0, depthMax: 0, stalled: 0, requeued: 0, stale: 0, refusals: 0, failed: 0, redisMs: 0, redisOps: 0, waitSeconds: 0, connected: 0, workers: new Map<string, { jobs: number; busy: number }>() };
  }

  private constructor(
    private readonly config: TrainerConfig,
    private readonly logger: Logger,
    private readonly runId: string,
    readonly configHash: string,
    private readonly identity: RolloutIdentity,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly pollSeconds: number,
  ) {
    this.url = redisUrlOf(config);
    this.renderer = { render: (prompts, options) => this.render(prompts, options.seeds) };
    this.imageRewards = { components: (images, originals, prompts) => this.score(images, originals, prompts) };
  }

  /**
   * Connect, claim and clean the run's queue, publish the run record and start collecting.
   * @throws TrainerError `TRAINER_ROLLOUT_UNAVAILABLE` (Redis unreachable past `redis_timeout_s`),
   *   `TRAINER_ROLLOUT_REFUSED` (another live run holds the queue prefix).
   */
  static async open(options: RedisRolloutBackendOptions): Promise<RedisRolloutBackend> {
    const { config, logger, runId } = options;
    const r = config.rollout_settings;
    const url = redisUrlOf(config);
    const identity = await rolloutIdentity(config);
    const hash = rolloutConfigHash(identity);
    const connection = redisOptions(config, `vlm-grpo-trainer-${runId}`);
    const queue = new Queue(ROLLOUT_QUEUE, {
      connection,
      prefix: r.queue_prefix,
      defaultJobOptions: {
        attempts: r.retries + 1,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { age: 24 * 3600, count: 1000 },
      },
    });
    let lastError: string | undefined;
    const remember = (error: Error) => (lastError = error.message);
    queue.on('error', remember);
    const events = new QueueEvents(ROLLOUT_QUEUE, { connection: redisOptions(config, `vlm-grpo-trainer-events-${runId}`), prefix: r.queue_prefix });
    events.on('error', remember);
    const last = () => lastError;
    try {
      await withDeadline(Promise.all([queue.waitUntilReady(), events.waitUntilReady()]), r.redis_timeout_s, 'connecting', url, last);
      const current = await withDeadline(readRunRecord(queue), r.redis_timeout_s, 'reading the run record', url, last);
      if (current && current.run_id !== runId) {
        throw new TrainerError(
          'TRAINER_ROLLOUT_REFUSED',
          `the rollout queue ${r.queue_prefix}:${ROLLOUT_QUEUE} on ${redactRedisUrl(url)} belongs to run ${current.run_id} (started ${current.started_at}, heartbeat ${current.heartbeat}); ` +
            'stop that trainer or give this run another rollout_settings.queue_prefix',
        );
      }
      // A clean queue: nothing of a previous session (killed trainer, --resume) survives.
      await withDeadline(queue.obliterate({ force: true }), r.redis_timeout_s, 'cleaning the queue', url, last);
      await withDeadline(takeRefusals(queue), r.redis_timeout_s, 'cleaning the queue', url, last);
    } catch (error) {
      await closeWithin([queue, events]);
      throw error;
    }
    const backend = new RedisRolloutBackend(config, logger, runId, hash, identity, queue, events, options.pollSeconds ?? 1);
    await withDeadline(backend.heartbeat(true), r.redis_timeout_s, 'writing the run record', url);
    const onEvent = ({ jobId }: { jobId: string }) => {
      if (backend.pending.has(jobId)) backend.wake();
    };
    events.on('completed', onEvent);
    events.on('failed', onEvent);
    events.on('stalled', ({ jobId }) => {
      if (!backend.pending.has(jobId)) return;
      backend.stats.stalled += 1;
      logger.warning(`rollout job ${jobId} stalled (its worker stopped renewing the lock: killed or blocked); BullMQ puts it back in the queue`);
    });
    backend.loop = backend.collect();
    logger.info(`rollouts: Redis ${redactRedisUrl(url)}, queue ${r.queue_prefix}:${ROLLOUT_QUEUE}, config hash ${hash.slice(0, 12)}; start workers with the same configuration (npx nx run trainer:worker)`);
    return backend;
  }

  private async heartbeat(force = false): Promise<void> {
    if (!force && performance.now() - this.lastHeartbeat < HEARTBEAT_MS) return;
    this.lastHeartbeat = performance.now();
    const record: RunRecord = { run_id: this.runId, session: this.session, config_hash: this.configHash, identity: this.identity, started_at: this.startedAt, heartbeat: '' };
    await writeRunRecord(this.queue, record);
    for (const refusal of await takeRefusals(this.queue)) {
      this.stats.refusals += 1;
      this.logger.error(`rollouts: ${refusal.message}`);
    }
    this.stats.connected = await this.queue.getWorkersCount().catch(() => this.stats.connected);
  }

  /** Job id of a group (see the file header). */
  jobId(key: RolloutKey, data: Pick<GroupJob, 'original' | 'rewrites' | 'seeds' | 'return_images'>): string {
    return `${this.runId}.i${key.iteration}.r${key.round}.g${key.group}.${digest([data.original, data.rewrites, data.seeds, data.return_images])}`;
  }

  private groupJob(request: RolloutRequest): GroupJob {
    return {
      format: ROLLOUT_FORMAT,
      run_id: this.runId,
      session: this.session,
      config_hash: this.configHash,
      kind: 'group',
      iteration: request.key.iteration,
      round: request.key.round,
      group: request.key.group,
      original: request.group.original,
      rewrites: request.group.rewrites,
      seeds: request.group.seeds,
      return_images: false,
    };
  }

  private inFlight(): number {
    let count = 0;
    for (const entry of this.pending.values()) if (entry.settled === undefined) count += 1;
    return count;
  }

  /** Enqueue one job unless it is pending already; resolves once Redis has it. */
  private async submit(id: string, name: JobName, data: JobData): Promise<Pending> {
    const existing = this.pending.get(id);
    if (existing) return existing;
    if (this.failure) throw this.failure;
    const r = this.config.rollout_settings;
    while (this.inFlight() >= r.max_groups_in_flight) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    const again = this.pending.get(id);
    if (again) return again;
    let resolve!: (value: Settled) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<Settled>((done, fail) => {
      resolve = done;
      reject = fail;
    });
    promise.catch(() => undefined);
    const entry: Pending = { name, data, enqueuedAt: performance.now(), settled: undefined, promise, resolve, reject };
    this.pending.set(id, entry);
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > r.max_payload_bytes) {
      this.settle(id, { ok: false, message: `job payload of ${size} bytes exceeds rollout_settings.max_payload_bytes (${r.max_payload_bytes})` });
      return entry;
    }
    await this.add(id, name, data);
    return entry;
  }

  private async add(id: string, name: JobName, data: JobData): Promise<void> {
    const started = performance.now();
    try {
      await withDeadline(this.queue.add(name, data, { jobId: id }), this.config.rollout_settings.redis_timeout_s, `adding job ${id}`, this.url);
    } catch (error) {
      this.fail(error as Error);
      throw this.failure ?? error;
    }
    this.stats.redisMs += performance.now() - started;
    this.stats.redisOps += 1;
  }

  private settle(id: string, settled: Settled): void {
    const entry = this.pending.get(id);
    if (!entry || entry.settled) return;
    entry.settled = settled;
    entry.resolve(settled);
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Redis is gone for good: reject everything that waits. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = TrainerError.isInstance(error) && error.code === 'TRAINER_ROLLOUT_UNAVAILABLE' ? error : new TrainerError('TRAINER_ROLLOUT_UNAVAILABLE', `Redis at ${redactRedisUrl(this.url)}: ${error.message}`, { cause: error });
    this.logger.error(`rollouts: ${this.failure.message}`);
    for (const entry of this.pending.values()) if (!entry.settled) entry.reject(this.failure);
    for (const waiter of this.slotWaiters) waiter();
    this.slotWaiters = [];
  }

  /** Wait for one pending job. */
  private async outcome(id: string): Promise<Settled> {
    const entry = this.pending.get(id);
    if (!entry) throw new Error(`internal: job ${id} is not pending`);
    const started = performance.now();
    try {
      return await entry.promise;
    } finally {
      this.stats.waitSeconds += (performance.now() - started) / 1000;
      this.pending.delete(id);
    }
  }

  async prefetch(requests: readonly RolloutRequest[]): Promise<void> {
    for (const request of requests) {
      const data = this.groupJob(request);
      await this.submit(this.jobId(request.key, data), 'group', data);
    }
  }

  async run(requests: readonly RolloutRequest[], timings: GroupTimings): Promise<GroupOutcome[]> {
    const jobs = requests.map((request) => {
      const data = this.groupJob(request);
      return { id: this.jobId(request.key, data), data };
    });
    const submitted = (async () => {
      for (const job of jobs) await this.submit(job.id, 'group', job.data);
    })();
    submitted.catch(() => undefined);
    const outcomes: GroupOutcome[] = [];
    for (const [index, job] of jobs.entries()) {
      // Waits for the job to be submitted (slots) and for its result.
      while (!this.pending.has(job.id)) {
        if (this.failure) throw this.failure;
        await Promise.race([submitted, new Promise((resolve) => setTimeout(resolve, 20))]);
      }
      const settled = await this.outcome(job.id);
      outcomes.push(this.groupOutcome(settled, requests[index]!, job.id, timings));
    }
    await submitted;
    return outcomes;
  }

  private groupOutcome(settled: Settled, request: RolloutRequest, id: string, timings: GroupTimings): GroupOutcome {
    const g = request.group.rewrites.length;
    const failed = (message: string): GroupOutcome => ({ rows: Array.from({ length: g }, () => ({ stage: 'rendering' as const, message })), imagesScored: 0 });
    this.stats.groups += 1;
    if (!settled.ok) {
      this.stats.failed += 1;
      return failed(`rollout job ${id}: ${settled.message}`);
    }
    const parsed = groupResultSchema.safeParse(settled.value);
    if (!parsed.success || parsed.data.rows.length !== g) {
      this.stats.failed += 1;
      return failed(`rollout job ${id}: invalid result from worker ${settled.worker}: ${parsed.success ? `${parsed.data.rows.length} rows for ${g} rewrites` : describeIssues(parsed.error)}`);
    }
    timings.render += settled.timings.render;
    timings.score += settled.timings.score;
    const scored = parsed.data.rows.reduce((sum, row, i) => sum + ('components' in row ? request.group.seeds[i]!.length : 0), 0);
    return { rows: parsed.data.rows, imagesScored: scored };
  }

  private async render(prompts: string[], seeds: number[]): Promise<Array<RenderedImage | Error>> {
    const jobs = prompts.map((prompt, index) => {
      const data: RenderJob = { format: ROLLOUT_FORMAT, run_id: this.runId, session: this.session, config_hash: this.configHash, kind: 'render', prompts: [prompt], seeds: [seeds[index]!] };
      return { id: `${this.runId}.render.${digest([prompt, seeds[index]])}`, data };
    });
    const entries = await Promise.all(jobs.map((job) => this.submit(job.id, 'render', job.data).then(() => job.id)));
    const out: Array<RenderedImage | Error> = [];
    for (const id of entries) {
      const settled = await this.outcome(id);
      if (!settled.ok) {
        out.push(new Error(`render job ${id}: ${settled.message}`));
        continue;
      }
      const parsed = renderResultSchema.safeParse(settled.value);
      if (!parsed.success || parsed.data.images.length !== 1) {
        out.push(new Error(`render job ${id}: invalid result from worker ${settled.worker}`));
        continue;
      }
      const item = parsed.data.images[0]!;
      try {
        out.push('error' in item ? new Error(item.error) : fromWireImage(item, `render job ${id}`));
      } catch (error) {
        out.push(error as Error);
      }
    }
    return out;
  }

  private async score(images: RenderedImage[], originals: string[], prompts: string[]): Promise<Array<RewardComponents | Error>> {
    const limit = this.config.rollout_settings.max_payload_bytes;
    // One job per call as long as it fits (CLIP scores the batch together, as locally).
    const chunks: number[][] = [];
    let current: number[] = [];
    let bytes = 1024;
    images.forEach((image, index) => {
      const size = Math.ceil((image.data.byteLength * 4) / 3) + originals[index]!.length + prompts[index]!.length + 256;
      if (current.length > 0 && bytes + size > limit) {
        chunks.push(current);
        current = [];
        bytes = 1024;
      }
      current.push(index);
      bytes += size;
    });
    if (current.length > 0) chunks.push(current);
    const out: Array<RewardComponents | Error> = images.map(() => new Error('not scored'));
    const ids = await Promise.all(
      chunks.map(async (chunk) => {
        const data: ScoreJob = {
          format: ROLLOUT_FORMAT,
          run_id: this.runId,
          session: this.session,
          config_hash: this.configHash,
          kind: 'score',
          images: chunk.map((index) => toWireImage(images[index]!)),
          originals: chunk.map((index) => originals[index]!),
          prompts: chunk.map((index) => prompts[index]!),
        };
        const id = `${this.runId}.score.${digest([data.images.map((image) => digest(image.data)), data.originals, data.prompts])}`;
        await this.submit(id, 'score', data);
        return id;
      }),
    );
    for (const [c, id] of ids.entries()) {
      const settled = await this.outcome(id);
      const chunk = chunks[c]!;
      const parsed = settled.ok ? scoreResultSchema.safeParse(settled.value) : undefined;
      chunk.forEach((index, k) => {
        if (!settled.ok) out[index] = new Error(`score job ${id}: ${settled.message}`);
        else if (!parsed!.success || parsed!.data.scores.length !== chunk.length) out[index] = new Error(`score job ${id}: invalid result from worker ${settled.worker}`);
        else {
          const item = parsed!.data.scores[k]!;
          out[index] = 'error' in item ? new Error(item.error) : (item.components as Partial<Record<ImageRewardName, number>>);
        }
      });
    }
    return out;
  }

  /** The collector: wakes on events or every `pollSeconds`, checks every pending job. */
  private async collect(): Promise<void> {
    const r = this.config.rollout_settings;
    while (!this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollSeconds * 1000);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = () => undefined;
      if (this.closed || this.failure) continue;
      try {
        await withDeadline(this.poll(), POLL_DEADLINE_S, 'polling jobs', this.url);
        if (this.warnedOutage) this.logger.info(`rollouts: Redis ${redactRedisUrl(this.url)} is back`);
        this.lastOk = performance.now();
        this.warnedOutage = false;
      } catch (error) {
        const down = (performance.now() - this.lastOk) / 1000;
        if (down >= r.redis_timeout_s) this.fail(new TrainerError('TRAINER_ROLLOUT_UNAVAILABLE', `Redis at ${redactRedisUrl(this.url)} unreachable for ${down.toFixed(0)} s (rollout_settings.redis_timeout_s ${r.redis_timeout_s}): ${(error as Error).message}`));
        else if (!this.warnedOutage) {
          this.warnedOutage = true;
          this.logger.warning(`rollouts: Redis ${redactRedisUrl(this.url)} unreachable (${(error as Error).message}); waiting up to ${r.redis_timeout_s} s`);
        }
      }
    }
  }

  private async poll(): Promise<void> {
    const r = this.config.rollout_settings;
    await this.heartbeat();
    const open = [...this.pending.entries()].filter(([, entry]) => entry.settled === undefined);
    if (open.length === 0) return;
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    this.stats.depthMax = Math.max(this.stats.depthMax, (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['delayed'] ?? 0));
    await Promise.all(
      open.map(async ([id, entry]) => {
        const started = performance.now();
        const job = (await this.queue.getJob(id)) as Job | undefined;
        this.stats.redisMs += performance.now() - started;
        this.stats.redisOps += 1;
        if (entry.settled) return;
        if (!job) {
          // Gone from Redis (a restart without persistence, or removed): enqueue it again.
          this.stats.requeued += 1;
          this.logger.warning(`rollouts: job ${id} is missing from Redis (restarted?); enqueued again`);
          entry.enqueuedAt = performance.now();
          await this.queue.add(entry.name, entry.data, { jobId: id });
          return;
        }
        const data = job.data as { session?: unknown } | undefined;
        if (data?.session !== this.session) {
          this.stats.stale += 1;
          this.logger.warning(`rollouts: dropped job ${id} of session ${String(data?.session)} (this session is ${this.session}); enqueued again`);
          await job.remove().catch(() => undefined);
          await this.queue.add(entry.name, entry.data, { jobId: id });
          return;
        }
        if (job.finishedOn !== undefined && job.returnvalue !== null && typeof job.returnvalue === 'object') {
          const value = job.returnvalue as { worker?: unknown; timings?: { render?: unknown; score?: unknown; total?: unknown } };
          const worker = typeof value.worker === 'string' ? value.worker : 'unknown';
          const timings = { render: Number(value.timings?.render) || 0, score: Number(value.timings?.score) || 0, total: Number(value.timings?.total) || 0 };
          const stats = this.stats.workers.get(worker) ?? { jobs: 0, busy: 0 };
          this.stats.workers.set(worker, { jobs: stats.jobs + 1, busy: stats.busy + timings.total });
          this.settle(id, { ok: true, value: job.returnvalue, worker, timings });
          await job.remove().catch(() => undefined);
          return;
        }
        if (job.finishedOn !== undefined) {
          this.settle(id, { ok: false, message: `failed after ${job.attemptsMade} attempt(s): ${job.failedReason}` });
          return;
        }
        const age = (performance.now() - entry.enqueuedAt) / 1000;
        if (age > r.job_timeout_s) {
          await job.remove().catch(() => undefined);
          this.settle(id, { ok: false, message: `no result within rollout_settings.job_timeout_s (${r.job_timeout_s} s); ${this.stats.connected} worker(s) connected` });
        }
      }),
    );
  }

  takeMetrics(): RolloutMetrics {
    const s = this.stats;
    this.stats = RedisRolloutBackend.emptyStats();
    this.stats.connected = s.connected;
    if (s.groups === 0 && s.redisOps === 0) return { metrics: {}, summary: null };
    const metrics: Record<string, number> = {
      'rollout/groups': s.groups,
      'rollout/failed_groups': s.failed,
      'rollout/workers': s.workers.size,
      'rollout/workers_connected': s.connected,
      'rollout/queue_depth_max': s.depthMax,
      'rollout/stalled': s.stalled,
      'rollout/requeued': s.requeued,
      'rollout/stale_dropped': s.stale,
      'rollout/refusals': s.refusals,
      'rollout/redis_ms_per_op': s.redisOps === 0 ? 0 : s.redisMs / s.redisOps,
      'rollout/wait_s': s.waitSeconds,
    };
    const parts: string[] = [];
    for (const [worker, w] of [...s.workers.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const rate = w.busy > 0 ? w.jobs / w.busy : 0;
      metrics[`rollout/worker/${worker}/jobs`] = w.jobs;
      metrics[`rollout/worker/${worker}/jobs_per_busy_s`] = rate;
      parts.push(`${worker} ${w.jobs} (${rate.toFixed(2)}/s busy)`);
    }
    const summary =
      `rollouts: ${s.groups} groups on ${s.workers.size} worker(s)${parts.length > 0 ? ` [${parts.join(', ')}]` : ''}, ` +
      `${s.connected} connected, queue depth max ${s.depthMax}, waited ${s.waitSeconds.toFixed(2)} s, Redis ${(s.redisOps === 0 ? 0 : s.redisMs / s.redisOps).toFixed(2)} ms/op` +
      (s.failed + s.stalled + s.requeued + s.stale + s.refusals > 0 ? `, failed ${s.failed}, stalled ${s.stalled}, re-enqueued ${s.requeued}, stale ${s.stale}, refusals ${s.refusals}` : '');
    return { metrics, summary };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    // A poll in progress ends by itself (its commands fail once the connections close).
    await Promise.race([this.loop?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    // Leave nothing behind for workers: the run is over (or will resume into a clean queue).
    if (!this.failure) {
      await withDeadline(
        (async () => {
          await this.queue.obliterate({ force: true });
          const client = await this.queue.client;
          await client.del(this.queue.toKey('vlm-grpo-run'));
        })(),
        5,
        'cleaning up',
        this.url,
      ).catch(() => undefined);
    }
    await closeWithin([this.events, this.queue], this.failure ? 1 : 5);
  }
}
