/**
 * Report inputs shaped like a real run: metrics.jsonl lines as the trainer writes them, and a
 * validation history from iteration 0 (before the first update) on.
 */
import type { ValidationResult } from '../validation-result.js';
import { Validator } from '../validator.js';
import { FakeEnhancer, FakeRenderer, FakeScorer } from './fakes.js';

/** Lines as the trainer writes metrics.jsonl: TRL-named metrics nested under `metrics`. */
export function trainerMetricsJsonl(count: number): string {
  return Array.from({ length: count }, (_, index) => {
    const i = index + 1;
    return JSON.stringify({
      iteration: i,
      time: `2026-01-0${i}T00:00:00.000Z`,
      epoch: i / 10,
      metrics: {
        reward: 0.4 + i / 10,
        reward_std: 0.1,
        kl: 0.01 * i,
        loss: 0.05 / i,
        'clip_ratio/low_mean': 0,
        'clip_ratio/high_mean': 0,
        'clip_ratio/region_mean': 0,
        'completions/mean_length': 20 + i,
        'completions/min_length': 10,
        'completions/max_length': 30 + i,
        learning_rate: 1e-4,
        grad_norm: 1 / i,
        entropy: 2 - i / 10,
        step: i,
        'rewards/relevance_to_original/mean': 25 + i,
        'rewards/relevance_to_original/std': 1,
        'rewards/quality/mean': 0.5,
        'rewards/length_in_range/mean': 0.2 * i,
        'rewards/length_in_range/null_count': 0,
        'rewards/subject_kept/mean': 0.9,
      },
      timings_s: { generation: 1, rendering: 2, scoring: 0.5, update: 1, total: 4.5 },
      samples: { total: 16, failed: 0 },
      failures: [],
    });
  }).join('\n');
}

/** Validations at iterations 0, 2, 4, 6: the enhanced prompts gain, the text rewards rise to 1. */
export async function validationHistory(): Promise<ValidationResult[]> {
  const records = [
    { user_prompt: 'a cat', category: 'animals', difficulty: 'easy' as const },
    { user_prompt: 'a bridge', category: 'architecture', difficulty: 'hard' as const },
  ];
  const results: ValidationResult[] = [];
  for (const iteration of [0, 2, 4, 6]) {
    const gain = iteration / 10;
    const scorer = new FakeScorer({
      'a cat': { total: 0.5, components: { relevance_to_original: 24, quality: 0.5, length_in_range: 0, subject_kept: 1 } },
      'a cat, detailed': { total: 0.5 + gain, components: { relevance_to_original: 24 + 10 * gain, quality: 0.5 + gain / 2, length_in_range: gain * 1.5, subject_kept: 1 } },
      'a bridge': { total: 1, components: { relevance_to_original: 26, quality: 0.6, length_in_range: 0, subject_kept: 1 } },
      'a bridge, detailed': { total: 1 + gain / 2, components: { relevance_to_original: 26 + 5 * gain, quality: 0.6, length_in_range: gain, subject_kept: 1 } },
    });
    const validator = new Validator({ enhancer: new FakeEnhancer(), renderer: new FakeRenderer(() => undefined), scorer, now: () => new Date(Date.UTC(2026, 0, 1 + iteration)) });
    results.push((await validator.validate(records, { iteration })).result);
  }
  return results;
}
