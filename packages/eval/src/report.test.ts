import { beforeAll, describe, expect, it } from 'vitest';

import { FakeEnhancer, FakeRenderer, FakeScorer } from './__fixtures__/fakes.js';
import { trainerMetricsJsonl } from './__fixtures__/report-data.js';
import { parseMetricsJsonl, renderReport } from './report.js';
import type { ValidationResult } from './validation-result.js';
import { Validator } from './validator.js';

const EVIL = '<script>alert("pwned")</script> & a cat';

async function buildHistory(): Promise<ValidationResult[]> {
  const records = [
    { user_prompt: EVIL, category: 'animals <b>', difficulty: 'easy' as const },
    { user_prompt: 'a bridge', category: 'architecture', difficulty: 'hard' as const },
    { user_prompt: 'a broken one', category: 'architecture', difficulty: 'hard' as const },
  ];
  const results: ValidationResult[] = [];
  for (const [iteration, gain] of [[1, 0.25], [2, 0.5], [3, 0.75]] as const) {
    const scorer = new FakeScorer({
      [EVIL]: { total: 0.5, components: { relevance: 0.5 } },
      [`${EVIL}, detailed`]: { total: 0.5 + gain, components: { relevance: 0.5 + gain } },
      'a bridge': { total: 1, components: { relevance: 1 } },
      'a bridge, detailed': { total: 1 - gain / 2, components: { relevance: 1 - gain / 2 } },
    });
    const renderer = new FakeRenderer((prompt) => (prompt.startsWith('a broken') ? new Error('decoder <NaN> failed') : undefined));
    const validator = new Validator({ enhancer: new FakeEnhancer(), renderer, scorer, now: () => new Date(Date.UTC(2026, 0, iteration)) });
    results.push((await validator.validate(records, { iteration })).result);
  }
  return results;
}

describe('renderReport', () => {
  let history: ValidationResult[];
  beforeAll(async () => {
    history = await buildHistory();
  });

  it('draws the validation curves as inline SVG with one point per iteration', () => {
    const html = renderReport(history);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    for (const id of ['validation-reward', 'validation-rates', 'validation-components', 'validation-length']) {
      expect(html).toContain(`data-chart="${id}"`);
    }
    const rewardChart = /<svg class="chart" data-chart="validation-reward"[\s\S]*?<\/svg>/u.exec(html)![0];
    // Two series (enhanced, original), each a polyline through 3 points.
    const polylines = [...rewardChart.matchAll(/<polyline [^>]*points="([^"]+)"/gu)].map((match) => match[1]!.split(' '));
    expect(polylines.map((points) => points.length)).toEqual([3, 3]);
    // Enhanced mean rises: (0.5+g + 1−g/2)/2 = 0.75 + g/4 → 0.8125, 0.875, 0.9375; y decreases on screen.
    const ys = polylines[0]!.map((point) => Number(point.split(',')[1]));
    expect(ys[0]).toBeGreaterThan(ys[1]!);
    expect(ys[1]).toBeGreaterThan(ys[2]!);
    expect(rewardChart).toContain('<title>enhanced mean reward @ 2: 0.875</title>');
  });

  it('escapes every prompt, category and error text', () => {
    const html = renderReport(history, { title: 'run <1>' });
    expect(html).not.toMatch(/<script/iu);
    expect(html).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; a cat');
    expect(html).toContain('animals &lt;b&gt;');
    expect(html).toContain('decoder &lt;NaN&gt; failed');
    expect(html).toContain('<title>run &lt;1&gt;</title>');
    expect(html).not.toContain('<b>');
  });

  it('references no network asset', () => {
    const html = renderReport(history);
    const urls = html.match(/(?:https?:)?\/\/[^\s"'<>)]+/gu) ?? [];
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
    expect(html).not.toMatch(/<link|<script|@import|url\(/iu);
    expect(html).toContain("default-src 'none'");
  });

  it('shows the latest tables, sample rewrites and failures', () => {
    const html = renderReport(history);
    expect(html).toContain('Latest validation (iteration 3)');
    expect(html).toContain('<h3>Per category</h3>');
    expect(html).toContain('<h3>Per difficulty</h3>');
    expect(html).toContain('Failures (1, excluded from the metrics)');
    // Win rate at iteration 3: one win, one loss → 50.0%.
    expect(html).toMatch(/win rate \(\(wins \+ ½ ties\) \/ n\)<\/td><td class="num">50\.0% \(1 W \/ 0 T \/ 1 L\)/u);
    expect(html).toContain('a bridge, detailed');
  });

  it('charts the trainer\'s nested metrics (metrics.jsonl lines) against the iteration', () => {
    const { records, invalidLines } = parseMetricsJsonl(`${trainerMetricsJsonl(3)}\n{"iteration":4,"metrics":{"loss":0.1}\n[1,2]\n`);
    expect(records).toHaveLength(3);
    expect(invalidLines).toEqual([4, 5]);
    const html = renderReport(history, { trainingMetrics: records });
    for (const id of ['reward', 'kl', 'loss', 'clip-ratio', 'completion-length', 'learning-rate', 'grad-norm', 'image-rewards', 'text-rewards']) {
      expect(html, id).toContain(`data-chart="training-${id}"`);
    }
    const chartOf = (id: string) => new RegExp(`<svg class="chart" data-chart="training-${id}"[\\s\\S]*?</svg>`, 'u').exec(html)![0];
    expect(chartOf('reward')).toContain('<polygon class="band"');
    expect(chartOf('reward')).toContain('<title>reward @ 2: 0.6</title>');
    expect(chartOf('image-rewards')).toContain('rewards/relevance_to_original/mean @ 3');
    expect(chartOf('image-rewards')).not.toContain('length_in_range');
    expect(chartOf('text-rewards')).toContain('rewards/length_in_range/mean @ 1');
    expect(chartOf('text-rewards')).toContain('rewards/subject_kept/mean');
    // Other numbers get their own chart; the step key, the epoch's step and counts do not.
    expect(html).toContain('data-chart="training-entropy"');
    expect(html).toContain('data-chart="training-time-total"');
    expect(html).not.toContain('data-chart="training-iteration"');
    expect(html).not.toContain('rewards/length_in_range/null_count');
    const limited = renderReport(history, { trainingMetrics: records, maxTrainingCharts: 1 });
    expect(limited).toMatch(/\d+ more training metric\(s\) not drawn/u);
    // Top-level numbers (older files) still chart.
    expect(renderReport(history, { trainingMetrics: [{ iteration: 1, loss: 0.5 }, { iteration: 2, loss: 0.25 }] })).toContain('data-chart="training-loss"');
  });

  it('is pure and handles an empty history', () => {
    expect(renderReport(history, { generatedAt: 'now' })).toBe(renderReport([...history].reverse(), { generatedAt: 'now' }));
    const empty = renderReport([]);
    expect(empty).toContain('No validation yet.');
  });
});
