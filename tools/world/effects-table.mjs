#!/usr/bin/env node
/**
 * Which modifier phrases of the prompt enhancer's phrase banks (tools/data/phrase-banks.mjs) have
 * a visual effect in the world (@vlm-grpo/world's MODIFIER_RULES), as a Markdown table.
 *
 * Usage: node tools/world/effects-table.mjs   (needs @vlm-grpo/world built: npx nx run @vlm-grpo/world:build)
 */
import { MODIFIER_RULES, ruleOf } from '@vlm-grpo/world';

import { BANKS, SHARED } from '../data/phrase-banks.mjs';

/** Every distinct phrase of the banks. */
export function bankPhrases() {
  const all = new Set();
  const walk = (node) => {
    if (typeof node === 'string') all.add(node);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      if (typeof node.t === 'string') all.add(node.t);
      else for (const [key, value] of Object.entries(node)) if (key !== 'photo') walk(value);
    }
  };
  walk(SHARED);
  walk(BANKS);
  return [...all].sort();
}

/** Markdown table: effect, what it does, bank phrases that trigger it. */
export function effectsTable(phrases = bankPhrases()) {
  const byRule = new Map(MODIFIER_RULES.map((rule) => [rule.id, []]));
  const none = [];
  for (const phrase of phrases) {
    const rule = ruleOf(phrase);
    if (rule) byRule.get(rule.id).push(phrase);
    else none.push(phrase);
  }
  const lines = ['| effect | what it does | bank phrases | examples |', '| --- | --- | ---: | --- |'];
  for (const rule of MODIFIER_RULES) {
    const list = byRule.get(rule.id);
    lines.push(`| \`${rule.id}\` | ${rule.description} | ${list.length} | ${list.slice(0, 5).map((p) => `"${p}"`).join(', ')} |`);
  }
  lines.push(`| (none) | no effect | ${none.length} | ${none.filter((_, i) => i % 40 === 0).slice(0, 8).map((p) => `"${p}"`).join(', ')} |`);
  return { markdown: lines.join('\n'), withEffect: phrases.length - none.length, total: phrases.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { markdown, withEffect, total } = effectsTable();
  console.log(markdown);
  console.log(`\n${withEffect} of ${total} bank phrases have an effect.`);
}
