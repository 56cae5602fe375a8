import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { learningReport, modifierPhrases } from './learning-report.mjs';

const work = mkdtempSync(join(tmpdir(), 'vlm-grpo-learning-report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const item = (id, prompt, enhanced, relevance, status = 'ok') => ({
  id,
  user_prompt: prompt,
  status,
  enhanced_prompt: enhanced,
  original: { total: 50, components: { relevance_to_original: 50 } },
  enhanced: { total: relevance + 1, components: { relevance_to_original: relevance } },
});

function writeRun(name, iterations) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [iteration, items] of Object.entries(iterations)) {
    writeFileSync(join(dir, `validation_iter_${iteration}.json`), JSON.stringify({ format: 'vlm-grpo.validation', version: 1, iteration: Number(iteration), items }));
  }
  return dir;
}

describe('learning-report', () => {
  it('pairs prompts by id, gives the mean difference with its standard error, and counts modifier phrases', () => {
    const run = writeRun('a', {
      0: [item('p1', 'a cat', 'a cat, soft light', 50), item('p2', 'a dog', 'a dog, soft light, high resolution', 52), item('p3', 'a cow', 'a cow, noon', 40), item('p4', 'a hen', 'a hen', 60, 'failed')],
      10: [item('p2', 'a dog', 'a dog, fine grain', 56), item('p1', 'a cat', 'a cat, fine grain, soft light', 53), item('p3', 'a cow', 'a cow, fine grain', 45), item('p4', 'a hen', 'a hen', 70)],
      5: [item('p1', 'a cat', 'a cat', 0)],
    });
    const report = learningReport([run]);
    const r = report.runs[0];
    expect([r.beforeIteration, r.afterIteration, r.prompts]).toEqual([0, 10, 3]); // p4 failed before: left out
    // differences 3, 4, 5: mean 4, sd 1, SE 1/√3
    expect(r.diff).toBeCloseTo(4, 12);
    expect(r.se).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(r.before).toBeCloseTo(142 / 3, 12);
    expect(r.rewardDiff).toBeCloseTo(4, 12);
    const rows = Object.fromEntries(report.modifiers.rows.map((row) => [row.phrase, [row.before, row.after]]));
    expect(rows).toEqual({ 'fine grain': [0, 3], 'soft light': [2, 1], 'high resolution': [1, 0], noon: [1, 0] });
    expect(report.modifiers.rows[0].phrase).toBe('fine grain');
  });

  it('pools runs by the spread of their differences', () => {
    const runs = [1, 3].map((delta, i) => writeRun(`seed${i}`, { 0: [item('p1', 'x', 'x, a', 10), item('p2', 'y', 'y, b', 20)], 4: [item('p1', 'x', 'x, a', 10 + delta), item('p2', 'y', 'y, b', 20 + delta + 1)] }));
    const report = learningReport(runs);
    expect(report.runs.map((r) => r.diff)).toEqual([1.5, 3.5]);
    expect(report.pooled.diff).toBeCloseTo(2.5, 12);
    expect(report.pooled.se).toBeCloseTo(Math.SQRT2 / Math.sqrt(2), 12); // sd over runs √2, two runs
  });

  it('names the run folder and the iterations it has when a validation is missing', () => {
    const run = writeRun('only-zero', { 0: [item('p1', 'x', 'x', 1)] });
    expect(() => learningReport([run])).toThrow(/only-zero: no validation after iteration 0 .*validation iterations: 0/);
    expect(() => learningReport([run], { before: 3 })).toThrow(/no validation_iter_3\.json/);
  });

  it('splits the added phrases off the user prompt', () => {
    expect(modifierPhrases('a cat', 'a cat, Soft Light,  , fine grain')).toEqual(['soft light', 'fine grain']);
    expect(modifierPhrases('a cat', 'two cats, noon')).toEqual(['two cats', 'noon']);
  });
});
