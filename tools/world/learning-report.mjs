#!/usr/bin/env node
/**
 * What a run learned, from its validation files: held-out relevance and reward of the enhanced
 * prompts before (an iteration-0 validation) and after training, paired per prompt, for one or
 * more runs (seeds), and which modifier phrases the policy uses more or less.
 *
 *   node tools/world/learning-report.mjs RUN_DIR [RUN_DIR ...] [--before 0] [--after last]
 *     [--component relevance_to_original] [--json FILE]
 *
 * RUN_DIR holds validation_iter_<n>.json (the trainer's output folder). Per run: mean enhanced
 * relevance before and after, the mean paired difference (after − before, same prompts, same image
 * seeds) and its standard error (sd of the differences / √n). Pooled over runs: the mean of the
 * runs' differences, its standard error (sd over runs / √runs when there are ≥ 2 runs, else the
 * paired SE) and the difference in standard errors. Modifiers: the comma-separated phrases after
 * the user's prompt in each enhanced prompt, counted before and after over all runs.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** Mean and sample standard deviation. */
export function meanSd(values) {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd };
}

/** validation_iter_<n>.json of a run folder: the iterations present, ascending. */
export function validationIterations(runDir) {
  return readdirSync(runDir)
    .map((name) => /^validation_iter_(\d+)\.json$/.exec(name))
    .filter(Boolean)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

function readValidation(runDir, iteration) {
  const file = join(runDir, `validation_iter_${iteration}.json`);
  const data = JSON.parse(readFileSync(file, 'utf8'));
  if (data.format !== 'vlm-grpo.validation' || !Array.isArray(data.items)) throw new Error(`${file}: not a vlm-grpo validation file`);
  return data;
}

/** The modifier phrases of an enhanced prompt: what follows the user's prompt, split at commas. */
export function modifierPhrases(userPrompt, enhancedPrompt) {
  const rest = enhancedPrompt.startsWith(userPrompt) ? enhancedPrompt.slice(userPrompt.length) : enhancedPrompt;
  return rest
    .split(',')
    .map((phrase) => phrase.trim().toLowerCase())
    .filter((phrase) => phrase.length > 0);
}

/** Paired before/after comparison of one run (items matched by prompt id). */
export function compareRun(before, after, component) {
  const byId = new Map(before.items.filter((item) => item.status === 'ok').map((item) => [item.id, item]));
  const diffs = [];
  const rewardDiffs = [];
  const pairs = [];
  for (const item of after.items) {
    const prior = byId.get(item.id);
    if (item.status !== 'ok' || !prior) continue;
    const a = item.enhanced.components[component];
    const b = prior.enhanced.components[component];
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    diffs.push(a - b);
    rewardDiffs.push(item.enhanced.total - prior.enhanced.total);
    pairs.push({ before: prior, after: item });
  }
  if (diffs.length === 0) throw new Error(`no prompt evaluated at both iterations (component ${component})`);
  const d = meanSd(diffs);
  const se = d.sd / Math.sqrt(d.n);
  const mean = (items, pick) => meanSd(items.map(pick)).mean;
  return {
    prompts: d.n,
    before: mean(pairs, (p) => p.before.enhanced.components[component]),
    after: mean(pairs, (p) => p.after.enhanced.components[component]),
    original: mean(pairs, (p) => p.after.original.components[component]),
    diff: d.mean,
    se,
    t: se > 0 ? d.mean / se : Infinity,
    rewardDiff: meanSd(rewardDiffs).mean,
    pairs,
  };
}

/** Counts of modifier phrases before and after, over the given comparisons. */
export function modifierShift(comparisons) {
  const counts = new Map();
  const add = (phrase, key) => {
    const row = counts.get(phrase) ?? { phrase, before: 0, after: 0 };
    row[key] += 1;
    counts.set(phrase, row);
  };
  let prompts = 0;
  for (const comparison of comparisons) {
    for (const { before, after } of comparison.pairs) {
      prompts += 1;
      for (const phrase of new Set(modifierPhrases(before.user_prompt, before.enhanced_prompt))) add(phrase, 'before');
      for (const phrase of new Set(modifierPhrases(after.user_prompt, after.enhanced_prompt))) add(phrase, 'after');
    }
  }
  return { prompts, rows: [...counts.values()].map((r) => ({ ...r, change: r.after - r.before })).sort((a, b) => b.change - a.change || a.phrase.localeCompare(b.phrase)) };
}

/** Before/after report of several runs (see the file header). */
export function learningReport(runDirs, { before = 0, after = 'last', component = 'relevance_to_original' } = {}) {
  const runs = runDirs.map((dir) => {
    const iterations = validationIterations(dir);
    const last = after === 'last' ? iterations.at(-1) : Number(after);
    if (!iterations.includes(before)) throw new Error(`${dir}: no validation_iter_${before}.json (validation iterations: ${iterations.join(', ') || 'none'})`);
    if (!iterations.includes(last) || last === before) throw new Error(`${dir}: no validation after iteration ${before} to compare with (validation iterations: ${iterations.join(', ')})`);
    return { dir, beforeIteration: before, afterIteration: last, ...compareRun(readValidation(dir, before), readValidation(dir, last), component) };
  });
  const diffs = meanSd(runs.map((r) => r.diff));
  const se = runs.length >= 2 ? diffs.sd / Math.sqrt(runs.length) : runs[0].se;
  return {
    component,
    runs: runs.map(({ pairs: _pairs, ...rest }) => rest),
    pooled: { runs: runs.length, diff: diffs.mean, sdOverRuns: diffs.sd, se, t: se > 0 ? diffs.mean / se : Infinity, before: meanSd(runs.map((r) => r.before)).mean, after: meanSd(runs.map((r) => r.after)).mean },
    modifiers: modifierShift(runs),
  };
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { before: { type: 'string', default: '0' }, after: { type: 'string', default: 'last' }, component: { type: 'string', default: 'relevance_to_original' }, json: { type: 'string' }, top: { type: 'string', default: '8' } },
  });
  if (positionals.length === 0) throw new Error('usage: learning-report.mjs RUN_DIR [RUN_DIR ...] [--before 0] [--after last] [--component relevance_to_original] [--json FILE]');
  const report = learningReport(positionals, { before: Number(values.before), after: values.after, component: values.component });
  const f = (v, d = 2) => v.toFixed(d);
  console.log(`| run | iterations | prompts | ${report.component} before | after | after − before (paired) | SE | t | original prompts |`);
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of report.runs) console.log(`| ${r.dir} | ${r.beforeIteration} → ${r.afterIteration} | ${r.prompts} | ${f(r.before)} | ${f(r.after)} | ${f(r.diff)} | ${f(r.se)} | ${f(r.t, 1)} | ${f(r.original)} |`);
  const p = report.pooled;
  console.log(`| pooled (${p.runs} run${p.runs > 1 ? 's' : ''}) | | | ${f(p.before)} | ${f(p.after)} | ${f(p.diff)} | ${f(p.se)} | ${f(p.t, 1)} | |`);
  const top = Number(values.top);
  const rows = report.modifiers.rows;
  console.log(`\nmodifiers used more (of ${report.modifiers.prompts} enhanced prompts, before → after): ${rows.slice(0, top).filter((r) => r.change > 0).map((r) => `"${r.phrase}" ${r.before} → ${r.after}`).join('; ')}`);
  console.log(`modifiers used less: ${rows.slice(-top).reverse().filter((r) => r.change < 0).map((r) => `"${r.phrase}" ${r.before} → ${r.after}`).join('; ')}`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (error) {
    console.error(`learning-report: ${error.message}`);
    process.exit(1);
  }
}
