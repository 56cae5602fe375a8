/**
 * Access to `@tensorflow/tfjs` (a peer dependency), the `tf` namespace the loss functions take.
 * This file imports it on first use only; note that importing this package also loads
 * @vlm-grpo/vlm (the optimizer, schedules and policy contract), which imports the same tfjs
 * module at load time, so both packages and the policy share one engine.
 */
import type * as tfNamespace from '@tensorflow/tfjs';

/** The `@tensorflow/tfjs` namespace type. */
export type Tf = typeof tfNamespace;

let cached: Promise<Tf> | undefined;

/** Import `@tensorflow/tfjs` once and return it (the same engine the policy uses). */
export function loadTf(): Promise<Tf> {
  cached ??= import('@tensorflow/tfjs');
  return cached;
}
