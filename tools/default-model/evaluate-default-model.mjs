#!/usr/bin/env node
/**
 * Evaluate the default prompt enhancer on the validation prompts (greedy decoding, the checks of
 * ./quality.mjs) and print the rates, the failures and a Markdown table of sample rewrites.
 *
 * Usage: node tools/default-model/evaluate-default-model.mjs [--model data/models/prompt-enhancer]
 *          [--prompts data/val_prompts.jsonl] [--samples 20] [--backend wasm] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { VLMWrapper } from '@vlm-grpo/vlm';

import { evaluateEnhancer, readPrompts } from './quality.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Evenly spaced indices (`count` of `length`), starting at the middle of the first stride. */
export function sampleIndices(length, count) {
  const stride = length / count;
  return Array.from({ length: Math.min(count, length) }, (_, i) => Math.floor(i * stride + stride / 2));
}

const percent = (value) => `${(100 * value).toFixed(1)} %`;
const cell = (text) => text.replace(/\|/gu, '\\|');

/** Markdown lines for a summary and sample rewrites. */
export function markdownReport(summary, assessed, samples) {
  const lines = [
    '| check (144 validation prompts, greedy) | rate |',
    '| --- | ---: |',
    `| subject kept (every content word of the prompt's first phrase) | ${percent(summary.subjectKept)} |`,
    `| ≥ 3 added comma-separated phrases | ${percent(summary.threePhrasesAdded)} |`,
    `| no repeated phrase or word 3-gram (raw completion) | ${percent(summary.noRepeatedPhrase)} |`,
    `| fits CLIP's 77 tokens (upper-bound estimate ≤ 75 + 2) | ${percent(summary.fitsClip)} |`,
    `| **all four** | **${percent(summary.allFour)}** |`,
    `| fallback used (VLMWrapper rejected the completion) | ${percent(summary.fallback)} |`,
    `| every content word of the whole prompt kept (stricter, for information) | ${percent(summary.allWordsKept)} |`,
    '',
    `Mean added phrases ${summary.meanAddedPhrases.toFixed(2)}, mean words ${summary.meanWords.toFixed(1)}, ` +
      `largest CLIP estimate ${summary.maxClipTokens} tokens; fallback reasons: ${JSON.stringify(summary.failures)}.`,
    '',
    '| category / difficulty | user prompt | rewrite (greedy) |',
    '| --- | --- | --- |',
    ...samples.map((index) => {
      const item = assessed[index];
      const flags = item.passes ? '' : ` ✗ (${Object.entries(item.checks).filter(([, ok]) => !ok).map(([name]) => name).join(', ')})`;
      return `| ${item.category} / ${item.difficulty} | ${cell(item.prompt)} | ${cell(item.text)}${flags} |`;
    }),
  ];
  return lines.join('\n');
}

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'data/models/prompt-enhancer' },
      prompts: { type: 'string', default: 'data/val_prompts.jsonl' },
      samples: { type: 'string', default: '20' },
      backend: { type: 'string', default: 'wasm' },
      json: { type: 'string' },
    },
  });
  const options = { model: values.model, prompts: values.prompts, samples: Number(values.samples), backend: values.backend, json: values.json ?? null };
  const records = readPrompts(resolve(ROOT, options.prompts));
  const wrapper = await VLMWrapper.fromPretrained(resolve(ROOT, options.model), { backend: options.backend, local_files_only: true });
  const started = Date.now();
  const { assessed, summary } = await evaluateEnhancer(wrapper, records);
  const seconds = (Date.now() - started) / 1000;
  wrapper.dispose();
  console.log(markdownReport(summary, assessed, sampleIndices(records.length, options.samples)));
  console.log(`\n${records.length} prompts enhanced in ${seconds.toFixed(1)} s`);
  const failing = assessed.filter((item) => !item.passes || item.fallback);
  if (failing.length) {
    console.log('\nRewrites failing a check:');
    for (const item of failing) console.log(`- ${item.prompt} → ${item.text} [${Object.entries(item.checks).filter(([, ok]) => !ok).map(([n]) => n).join(', ')}${item.fallback ? `; fallback: ${item.failure}` : ''}]`);
  }
  if (options.json) writeFileSync(resolve(ROOT, options.json), `${JSON.stringify({ summary, seconds, assessed }, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`evaluate-default-model: ${error.stack ?? error.message}`);
    process.exit(1);
  });
}
