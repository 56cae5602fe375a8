/**
 * The one loop every component uses to pick a device: walk the planned candidates in order, skip
 * those the plan already ruled out, try the others until one initialises, and keep why each was
 * skipped or failed. The result carries a one-line summary (for INFO logs) and the full reasons
 * (for DEBUG logs and errors).
 */
import { DeviceError } from './errors.js';

/** A device the plan proposes, or rules out with `skip` (the reason). */
export interface DeviceCandidate<D extends string> {
  /** Device name (`cuda`, `webgpu`, `wasm`, …). */
  device: D;
  /** Set when the plan rules it out without trying: why. */
  skip?: string;
}

/** What happened to one candidate. */
export interface DeviceAttempt<D extends string> {
  /** Device name. */
  device: D;
  /** `picked`, `skipped` (ruled out by the plan) or `failed` (tried, did not initialise). */
  outcome: 'picked' | 'skipped' | 'failed';
  /** Why (for `picked`: what initialised, e.g. the adapter name). */
  reason: string;
}

/** The decision, for logs. */
export interface DeviceDecision<D extends string> {
  /** What the decision is for (`policy`, `diffusion unet`, `clip`). */
  what: string;
  /** What was asked for (`auto` or a device). */
  requested: string;
  /** The device picked. */
  device: D;
  /** Every candidate in order, with its outcome and reason. */
  attempts: DeviceAttempt<D>[];
  /** One short line: `diffusion: cpu (auto; skipped cuda: the CUDA provider is not installed, webgpu: software adapter …)`. */
  summary: string;
  /** The same with every reason in full. */
  detail: string;
}

/** Options of {@link selectDevice}. */
export interface SelectDeviceOptions<D extends string, T> {
  /** What the decision is for, used in messages (`policy`, `clip`, `diffusion unet`). */
  what: string;
  /** What was asked for (`auto` or a device name). */
  requested: string;
  /** Candidates in order (from a plan such as `planOnnxDevices`). */
  candidates: readonly DeviceCandidate<D>[];
  /** Initialise one device; resolves to the value and, optionally, a detail for the log (adapter, library). */
  attempt: (device: D) => Promise<{ value: T; detail?: string }>;
  /** Errors that must stop the search and be rethrown as they are (e.g. a missing model file) (default: none). */
  isFatal?: (error: unknown, device: D) => boolean;
  /** One-line reason for a failed attempt (default: the error message's first line). */
  explainFailure?: (error: unknown, device: D) => string;
}

/** The first non-empty line of an error's message. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown error';
}

/** The short form of a reason: its text up to the first `:`, `(` or `;`, at most 60 characters. */
export function shortReason(reason: string): string {
  const head = reason.split(/[:(;]/u)[0]!.trim();
  return head.length > 60 ? `${head.slice(0, 57)}…` : head || reason.slice(0, 60);
}

/** Summary and detail lines of a decision. */
export function describeDecision<D extends string>(what: string, requested: string, device: D, attempts: readonly DeviceAttempt<D>[]): { summary: string; detail: string } {
  const others = attempts.filter((attempt) => attempt.outcome !== 'picked');
  const picked = attempts.find((attempt) => attempt.outcome === 'picked');
  const mode = requested === 'auto' ? 'auto' : requested === device ? 'requested' : `${requested} requested`;
  const short = others.map((attempt) => `${attempt.device}: ${shortReason(attempt.reason)}`);
  const full = others.map((attempt) => `${attempt.device} ${attempt.outcome}: ${attempt.reason}`);
  return {
    summary: `${what}: ${device} (${mode}${short.length ? `; not ${short.join(', ')}` : ''})`,
    detail: `${what}: ${device} (${mode}${picked?.reason ? `, ${picked.reason}` : ''})${full.length ? `; ${full.join('; ')}` : ''}`,
  };
}

/** Error thrown by {@link selectDevice} when no candidate initialises; `attempts` lists why. */
export class DeviceUnavailableError<D extends string = string> extends DeviceError {
  /** Every candidate with its outcome. */
  readonly attempts: readonly DeviceAttempt<D>[];

  constructor(what: string, requested: string, attempts: readonly DeviceAttempt<D>[], cause?: unknown) {
    super('DEVICE_UNAVAILABLE', `${what}: no usable device for "${requested}": ${attempts.map((attempt) => `${attempt.device}: ${attempt.reason}`).join('; ') || 'no candidates'}`, { cause });
    this.name = 'DeviceUnavailableError';
    this.attempts = attempts;
  }
}

/**
 * Try the candidates in order and return the first that initialises, with the decision (see the
 * file header). Throws {@link DeviceUnavailableError} when none does, or the error itself when
 * `isFatal` says so.
 */
export async function selectDevice<D extends string, T>(options: SelectDeviceOptions<D, T>): Promise<{ value: T; device: D; decision: DeviceDecision<D> }> {
  const attempts: DeviceAttempt<D>[] = [];
  let lastError: unknown;
  for (const candidate of options.candidates) {
    if (candidate.skip !== undefined) {
      attempts.push({ device: candidate.device, outcome: 'skipped', reason: candidate.skip });
      continue;
    }
    try {
      const { value, detail } = await options.attempt(candidate.device);
      attempts.push({ device: candidate.device, outcome: 'picked', reason: detail ?? '' });
      const text = describeDecision(options.what, options.requested, candidate.device, attempts);
      return { value, device: candidate.device, decision: { what: options.what, requested: options.requested, device: candidate.device, attempts, ...text } };
    } catch (error) {
      if (options.isFatal?.(error, candidate.device)) throw error;
      lastError = error;
      attempts.push({ device: candidate.device, outcome: 'failed', reason: options.explainFailure?.(error, candidate.device) ?? firstLine(error) });
    }
  }
  throw new DeviceUnavailableError(options.what, options.requested, attempts, lastError);
}
