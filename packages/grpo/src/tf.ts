/**
 * Lazy access to `@tensorflow/tfjs` (a peer dependency). The module is imported on first use,
 * never at load time, so importing this package costs nothing until a trainer is created.
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
