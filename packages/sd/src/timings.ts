/** Wall-clock seconds per pipeline stage, as reported with every generated batch. */

/** Seconds spent per stage of one `generateImages` call (one batch). */
export interface StageTimings {
  /** Loading sessions (memory-efficient mode loads and releases them per call). */
  loadSeconds: number;
  /** Tokenising and running the text encoder(s). */
  textEncoderSeconds: number;
  /** One entry per denoiser call (the UNet/transformer plus the scheduler step). */
  stepSeconds: number[];
  /** VAE decoding (all slices). */
  vaeSeconds: number;
  /** Whole call. */
  totalSeconds: number;
}

/** Seconds since `start` (from `performance.now()`). */
export function since(start: number): number {
  return (performance.now() - start) / 1000;
}
