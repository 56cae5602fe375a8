/**
 * The hand-computed example shared by the metric and validator tests. Rewards are dyadic
 * fractions so every expected value below is exact in binary floating point.
 *
 * | # | prompt            | category     | difficulty | rewrite (words)                                | original | enhanced | Δ     | outcome |
 * |---|-------------------|--------------|------------|------------------------------------------------|----------|----------|-------|---------|
 * | 0 | a cat             | animals      | easy       | a cat sitting on a red mat (7)                 | 0.25     | 0.75     | +0.5  | win     |
 * | 1 | a dog             | animals      | medium     | a dog (2, fallback)                            | 0.5      | 0.5      | 0     | tie     |
 * | 2 | a house           | architecture | easy       | a large old house with a garden (7)            | 0.75     | 0.25     | −0.5  | loss    |
 * | 3 | a tower at dusk   | architecture | hard       | a tall stone tower at dusk in golden light (9) | 0.125    | 0.625    | +0.5  | win     |
 *
 * Components: `relevance` = `aesthetic` = total / 2 on every image; `length` only on the rewrites
 * of #0 (1.0) and #3 (0.5).
 *
 * Expected (threshold 0.5, margin 0.25, tie tolerance 0):
 * - original mean = (0.25 + 0.5 + 0.75 + 0.125) / 4 = 1.625 / 4 = 0.40625
 * - enhanced mean = (0.75 + 0.5 + 0.25 + 0.625) / 4 = 2.125 / 4 = 0.53125
 * - mean Δ = (0.5 + 0 − 0.5 + 0.5) / 4 = 0.125
 * - wins 2, ties 1, losses 1 → win rate (2 + 0.5) / 4 = 0.625
 * - success (enhanced > 0.5, strict): #0 0.75, #3 0.625 → 2/4 = 0.5; original > 0.5: #2 only → 0.25
 * - improvement (Δ > 0.25): #0, #3 → 0.5
 * - enhanced relevance mean = 0.53125 / 2 = 0.265625 (count 4); length mean = (1 + 0.5) / 2 = 0.75 (count 2)
 * - rewrite words [7, 2, 7, 9]: mean 25/4 = 6.25, min 2, max 9, median (7 + 7)/2 = 7,
 *   std = sqrt(((0.75)² + (−4.25)² + (0.75)² + (2.75)²) / 3) = sqrt(26.75 / 3) = 2.9860788…
 * - original std: deviations −0.15625, 0.09375, 0.34375, −0.28125 → squares sum 0.23046875,
 *   / 3 = 0.0768229166…, sqrt = 0.2771694…
 * - original words [2, 2, 2, 4]: mean 2.5, median 2
 * - fallback rate 1/4 = 0.25
 * - by category: animals (#0, #1): original (0.25+0.5)/2 = 0.375, enhanced (0.75+0.5)/2 = 0.625,
 *   Δ 0.25, win rate (1 + 0.5)/2 = 0.75, success 1/2, improvement 1/2;
 *   architecture (#2, #3): original (0.75+0.125)/2 = 0.4375, enhanced (0.25+0.625)/2 = 0.4375,
 *   Δ 0, win rate 1/2, success 1/2, improvement 1/2.
 * - by difficulty (easy, medium, hard): easy (#0, #2) 0.5 / 0.5 / Δ 0 / win 0.5;
 *   medium (#1) 0.5 / 0.5 / 0 / 0.5; hard (#3) 0.125 / 0.625 / 0.5 / 1.
 */
import type { EnhancedPrompt, ImageScore } from '../interfaces.js';

export const EXAMPLE_RECORDS = [
  { user_prompt: 'a cat', category: 'animals', difficulty: 'easy' },
  { user_prompt: 'a dog', category: 'animals', difficulty: 'medium' },
  { user_prompt: 'a house', category: 'architecture', difficulty: 'easy' },
  { user_prompt: 'a tower at dusk', category: 'architecture', difficulty: 'hard' },
] as const;

export const EXAMPLE_REWRITES: Record<string, EnhancedPrompt | string> = {
  'a cat': 'a cat sitting on a red mat',
  'a dog': { text: 'a dog', fallback: { used: true, reason: 'empty generation' } },
  'a house': { text: 'a large old house with a garden' },
  'a tower at dusk': { text: 'a tall stone tower at dusk in golden light', fallback: { used: false } },
};

const half = (total: number, extra: Record<string, number> = {}): ImageScore => ({ total, components: { relevance: total / 2, aesthetic: total / 2, ...extra } });

export const EXAMPLE_SCORES: Record<string, ImageScore> = {
  'a cat': half(0.25),
  'a cat sitting on a red mat': half(0.75, { length: 1 }),
  'a dog': half(0.5),
  'a house': half(0.75),
  'a large old house with a garden': half(0.25),
  'a tower at dusk': half(0.125),
  'a tall stone tower at dusk in golden light': half(0.625, { length: 0.5 }),
};

export const EXAMPLE_SETTINGS = { success_threshold: 0.5, improvement_margin: 0.25, tie_tolerance: 0, images_per_prompt: 1 };
