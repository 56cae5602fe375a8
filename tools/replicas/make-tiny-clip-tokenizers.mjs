#!/usr/bin/env node
/**
 * Tiny CLIP tokenizers of the real kind, for the tiny real-layout replicas of the CPU tests: the
 * real CLIP BPE (SD 1.5's, which is openai/clip-vit-base-patch32's, and SD-Turbo's) cut to its
 * first `--merges` merges. A CLIP vocabulary is the 256 byte symbols, the 256 byte symbols with
 * `</w>`, one token per merge in merge order, then `<|startoftext|>` and `<|endoftext|>`; keeping a
 * prefix of the merges therefore gives a valid CLIP tokenizer (same normaliser, pre-tokeniser,
 * post-processor and special tokens, ids of kept tokens unchanged, the two special tokens last),
 * whose tokenisation is the real one with fewer merges applied. An embedding table of
 * 512 + merges + 2 rows then fits a test fixture where 49,408 rows would not.
 *
 *   node tools/replicas/make-tiny-clip-tokenizers.mjs REAL_TOKENIZERS_DIR OUT_DIR [--merges 700]
 *
 * REAL_TOKENIZERS_DIR holds clip-sd15/ (vocab.json, merges.txt, tokenizer.json, …) and
 * clip-sd-turbo/ (tokenizer.json, tokenizer_config.json): ../shared/fixtures/real-tokenizers here.
 * OUT_DIR gets the same two folders, with the same files, cut.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Cut a CLIP vocabulary + merge list (merges as "a b" strings) to the first `keep` merges. */
export function cutClipBpe(vocab, merges, keep) {
  const base = 512;
  const kept = merges.slice(0, keep);
  const out = {};
  for (const [token, id] of Object.entries(vocab)) if (id < base) out[token] = id;
  kept.forEach((merge, index) => {
    const token = merge.replace(' ', '');
    if (vocab[token] !== base + index) throw new Error(`merge ${index} (${merge}) is not token ${base + index} of the vocabulary`);
    out[token] = base + index;
  });
  out['<|startoftext|>'] = base + kept.length;
  out['<|endoftext|>'] = base + kept.length + 1;
  return { vocab: out, merges: kept };
}

function cutTokenizerJson(path, keep) {
  const json = JSON.parse(readFileSync(path, 'utf8'));
  const { vocab, merges } = cutClipBpe(json.model.vocab, json.model.merges, keep);
  json.model.vocab = vocab;
  json.model.merges = merges;
  for (const added of json.added_tokens) added.id = vocab[added.content];
  const post = json.post_processor;
  if (post?.type === 'RobertaProcessing' || post?.type === 'BertProcessing') {
    post.sep = ['<|endoftext|>', vocab['<|endoftext|>']];
    post.cls = ['<|startoftext|>', vocab['<|startoftext|>']];
  } else if (post?.type === 'TemplateProcessing') {
    for (const [name, special] of Object.entries(post.special_tokens ?? {})) special.ids = [vocab[name]];
  }
  return json;
}

function main(argv) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { merges: { type: 'string', default: '700' } } });
  const [src, out] = positionals;
  const keep = Number(values.merges);
  if (!src || !out || !Number.isInteger(keep) || keep < 1) throw new Error('usage: make-tiny-clip-tokenizers.mjs REAL_TOKENIZERS_DIR OUT_DIR [--merges 700]');
  for (const name of ['clip-sd15', 'clip-sd-turbo']) {
    const from = join(src, name);
    const to = join(out, name);
    mkdirSync(to, { recursive: true });
    if (existsSync(join(from, 'tokenizer.json'))) writeFileSync(join(to, 'tokenizer.json'), `${JSON.stringify(cutTokenizerJson(join(from, 'tokenizer.json'), keep))}\n`);
    if (existsSync(join(from, 'vocab.json'))) {
      const merges = readFileSync(join(from, 'merges.txt'), 'utf8').split('\n').filter((line) => line && !line.startsWith('#version'));
      const cut = cutClipBpe(JSON.parse(readFileSync(join(from, 'vocab.json'), 'utf8')), merges, keep);
      writeFileSync(join(to, 'vocab.json'), JSON.stringify(cut.vocab));
      writeFileSync(join(to, 'merges.txt'), `#version: 0.2\n${cut.merges.join('\n')}\n`);
    }
    for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) if (existsSync(join(from, file))) copyFileSync(join(from, file), join(to, file));
    console.log(`${name}: ${512 + keep + 2} tokens → ${to}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`make-tiny-clip-tokenizers: ${error.message}`);
    process.exit(1);
  }
}
