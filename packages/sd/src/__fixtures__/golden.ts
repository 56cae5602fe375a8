/** Helpers of the golden tests: read reference arrays and compare them. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { GenerateOptions } from '../pipeline-base.js';

/** Read a raw little-endian float32 file (`dir` ends with a slash) into its own Float32Array. */
export function readF32(dir: string, name: string): Float32Array {
  const bytes = readFileSync(dir + name);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
}

/** Largest absolute difference of two equally long arrays (asserts the lengths match). */
export function maxAbs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let largest = 0;
  for (let index = 0; index < a.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

/**
 * The tiny SD 1.x model: the repository's embedded copy in `data/models/tiny-sd` (the same files the
 * shared fixtures hold; kept once so the repository stays small). Ends with a slash.
 */
export const tinySdModelDir = fileURLToPath(new URL('../../../../data/models/tiny-sd/', import.meta.url));

/** diffusers' reference outputs for the tiny SD 1.x model (`reference.json`, `*.f32`). Ends with a slash. */
export const tinySdGoldenDir = fileURLToPath(new URL('./tiny-sd/', import.meta.url));

/** One reference image case of `tiny-sd/reference.json` (scheduler settings and the image file). */
export interface SdReferenceCase {
  scheduler: string;
  scheduler_kwargs: Record<string, unknown>;
  timestep_spacing: string;
  steps: number;
  guidance_scale: number;
  negative_prompt: string | null;
  image: { file: string };
}

/** `tiny-sd/reference.json`: the reference image cases and their size. */
export function loadSdReference(): { cases: SdReferenceCase[]; height: number; width: number } {
  return JSON.parse(readFileSync(`${tinySdGoldenDir}reference.json`, 'utf8')) as { cases: SdReferenceCase[]; height: number; width: number };
}

/**
 * Generation options that reproduce reference case `c` from the reference's initial `latents`:
 * its scheduler built from the four beta keys plus `scheduler_kwargs` and the spacing
 * (steps_offset 0 unless listed), not from the pipeline's PNDM config; float32 output.
 */
export function referenceCaseOptions(c: SdReferenceCase, latents: Float32Array): GenerateOptions {
  return {
    scheduler: { name: c.scheduler, config: { steps_offset: 0, ...c.scheduler_kwargs, timestep_spacing: c.timestep_spacing } },
    steps: c.steps,
    guidanceScale: c.guidance_scale,
    ...(c.negative_prompt !== null ? { negativePrompt: c.negative_prompt } : {}),
    latents,
    outputType: 'float32',
  };
}
