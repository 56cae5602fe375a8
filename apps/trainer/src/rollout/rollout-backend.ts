/**
 * The interface through which the trainer has prompt groups rendered and scored, whatever runs
 * them: {@link LocalRolloutBackend} (this process, today's path) or {@link RedisRolloutBackend}
 * (worker processes through Redis and BullMQ). Both compute every group with
 * `renderAndScoreGroups`, so they give the same rewards for the same groups.
 */
import type { TrainerConfig } from '../config/config-schema.js';
import type { TrainerError } from '../errors.js';
import { IMAGE_REWARD_NAMES, type ImageRenderer, type ImageRewardModel, type ImageRewardName } from '../system/ports.js';
import type { GroupOutcome, GroupTimings, RolloutGroup } from './group-rollout.js';

/** Where a group belongs in the run: its job id derives from this and the run id. */
export interface RolloutKey {
  /** Trainer iteration (0-based; every iteration has its own, also failed ones). */
  iteration: number;
  /** Generation round inside the iteration (DAPO refills; 0 otherwise). */
  round: number;
  /** Index of the group in its round's batch. */
  group: number;
}

/** One group to render and score, and where it belongs. */
export interface RolloutRequest {
  key: RolloutKey;
  group: RolloutGroup;
}

/** What a backend reports about the work since the last call of {@link RolloutBackend.takeMetrics}. */
export interface RolloutMetrics {
  /** Numbers for metrics.jsonl and W&B (`rollout/...`); empty for the local backend. */
  metrics: Record<string, number>;
  /** One log line (null when there is nothing to say). */
  summary: string | null;
}

/** Renders and scores prompt groups (see the file header). */
export interface RolloutBackend {
  /** `local` or `redis`. */
  readonly kind: 'local' | 'redis';
  /** Renderer for validation (remote: `render` jobs). */
  readonly renderer: ImageRenderer;
  /** Image rewards for validation (remote: `score` jobs). */
  readonly imageRewards: ImageRewardModel;
  /**
   * Start work on groups whose results {@link run} will ask for later (the Redis backend
   * enqueues them, so workers render while the trainer generates the next rewrites). Waits only
   * while `max_groups_in_flight` groups are already out. The local backend does nothing.
   */
  prefetch(requests: readonly RolloutRequest[]): Promise<void>;
  /**
   * Outcomes of `requests`, in order (prefetched ones are not submitted twice). Busy seconds are
   * added to `timings`.
   * @throws TrainerError `TRAINER_ROLLOUT_UNAVAILABLE` when the backend cannot work at all (Redis
   *   unreachable past `redis_timeout_s`); failures of single groups are failed rows instead.
   */
  run(requests: readonly RolloutRequest[], timings: GroupTimings, signal?: AbortSignal): Promise<GroupOutcome[]>;
  /** Set once the backend cannot work at all (Redis gone past `redis_timeout_s`): the run must end. */
  readonly failure?: TrainerError | undefined;
  /** Metrics since the last call (the trainer takes them once per iteration). */
  takeMetrics(): RolloutMetrics;
  /** Release connections (the local backend holds none; models belong to the caller). */
  close(): Promise<void>;
}

/** The image reward components a configuration uses (weight > 0), in {@link IMAGE_REWARD_NAMES} order. */
export function imageComponentsOf(config: TrainerConfig): ImageRewardName[] {
  return IMAGE_REWARD_NAMES.filter((name) => config.reward_settings[name].weight > 0);
}
