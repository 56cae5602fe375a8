/**
 * Failure accounting: a sample that fails inside an iteration (a generation error, a NaN or blank
 * image, a reward that throws) is excluded and counted. When more than `maxFailureFraction` of an
 * iteration's samples fail for `maxFailedIterations` consecutive iterations, the run stops (with
 * a checkpoint and a message naming the causes).
 */

/** One failed sample. */
export interface SampleFailure {
  /** Stage that failed: `generation`, `rendering`, `scoring`, `update`. */
  stage: string;
  /** Index of the sample in the iteration's batch (−1 for the whole batch). */
  sample: number;
  /** What went wrong. */
  message: string;
}

/** Saved state of a {@link FailureTracker} (JSON). */
export interface FailureTrackerState {
  /** Consecutive iterations above the threshold. */
  consecutive: number;
  /** Failed samples over the whole run. */
  totalFailed: number;
  /** Samples over the whole run. */
  totalSamples: number;
}

/** Result of recording one iteration. */
export interface IterationFailureSummary {
  /** Failed samples of the iteration. */
  failed: number;
  /** Samples of the iteration. */
  total: number;
  /** failed / total (0 for an empty iteration). */
  fraction: number;
  /** The fraction exceeded the threshold. */
  aboveThreshold: boolean;
  /** The run must stop. */
  stop: boolean;
}

/** Counts failures per iteration and decides when the run must stop. */
export class FailureTracker {
  readonly maxFailureFraction: number;
  readonly maxFailedIterations: number;
  private consecutive = 0;
  private totalFailed = 0;
  private totalSamples = 0;
  private recent: SampleFailure[] = [];

  constructor(options: { maxFailureFraction: number; maxFailedIterations: number }) {
    this.maxFailureFraction = options.maxFailureFraction;
    this.maxFailedIterations = options.maxFailedIterations;
  }

  /** Record an iteration of `total` samples and its failures. */
  record(total: number, failures: readonly SampleFailure[]): IterationFailureSummary {
    const failedSamples = new Set(failures.map((failure) => failure.sample));
    const failed = failedSamples.has(-1) ? total : Math.min(total, failedSamples.size);
    const fraction = total === 0 ? 0 : failed / total;
    const aboveThreshold = fraction > this.maxFailureFraction;
    this.consecutive = aboveThreshold ? this.consecutive + 1 : 0;
    this.totalFailed += failed;
    this.totalSamples += total;
    this.recent = aboveThreshold ? [...this.recent, ...failures].slice(-20) : [...failures].slice(-20);
    return { failed, total, fraction, aboveThreshold, stop: this.consecutive >= this.maxFailedIterations };
  }

  /** Message for a stop: thresholds and the latest causes. */
  stopMessage(): string {
    const causes = [...new Set(this.recent.map((failure) => `${failure.stage}: ${failure.message}`))].slice(0, 5);
    return (
      `stopping: more than ${(this.maxFailureFraction * 100).toFixed(0)}% of the samples failed in ${this.consecutive} consecutive iterations ` +
      `(training_settings.max_failure_fraction = ${this.maxFailureFraction}, max_failed_iterations = ${this.maxFailedIterations}). Latest causes:\n` +
      causes.map((cause) => `  - ${cause}`).join('\n')
    );
  }

  /** Failure fraction over the whole run. */
  get overallFraction(): number {
    return this.totalSamples === 0 ? 0 : this.totalFailed / this.totalSamples;
  }

  getState(): FailureTrackerState {
    return { consecutive: this.consecutive, totalFailed: this.totalFailed, totalSamples: this.totalSamples };
  }

  setState(state: FailureTrackerState): void {
    this.consecutive = state.consecutive;
    this.totalFailed = state.totalFailed;
    this.totalSamples = state.totalSamples;
  }
}
