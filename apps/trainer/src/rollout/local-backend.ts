/**
 * The local rollout backend: renders and scores in the trainer process with the models it
 * loaded (today's path; `rollout_settings.backend: local`).
 */
import type { ImageRenderer, ImageRewardModel, ImageRewardName } from '../system/ports.js';
import { renderAndScoreGroups, type GroupOutcome, type GroupTimings } from './group-rollout.js';
import type { RolloutBackend, RolloutMetrics, RolloutRequest } from './rollout-backend.js';

/** Renders and scores in this process (see the file header). */
export class LocalRolloutBackend implements RolloutBackend {
  readonly kind = 'local';
  readonly renderer: ImageRenderer;
  readonly imageRewards: ImageRewardModel;
  private readonly components: readonly ImageRewardName[];

  /**
   * @param models the loaded renderer and image rewards (not disposed by the backend).
   * @param components the image components in use (`imageComponentsOf(config)`).
   */
  constructor(models: { renderer: ImageRenderer; imageRewards: ImageRewardModel }, components: readonly ImageRewardName[]) {
    this.renderer = models.renderer;
    this.imageRewards = models.imageRewards;
    this.components = components;
  }

  /** Nothing to start ahead: groups render when {@link run} asks. */
  async prefetch(_requests: readonly RolloutRequest[]): Promise<void> {}

  run(requests: readonly RolloutRequest[], timings: GroupTimings, signal?: AbortSignal): Promise<GroupOutcome[]> {
    return renderAndScoreGroups(
      { renderer: this.renderer, imageRewards: this.imageRewards },
      requests.map((request) => request.group),
      { components: this.components, timings, ...(signal ? { signal } : {}) },
    );
  }

  takeMetrics(): RolloutMetrics {
    return { metrics: {}, summary: null };
  }

  async close(): Promise<void> {}
}
