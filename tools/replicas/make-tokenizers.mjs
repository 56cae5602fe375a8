#!/usr/bin/env node
/**
 * The two policy tokenizers the real-layout replicas need and the repository cannot ship from the
 * hub, made with the project's byte-level BPE trainer (tools/tokenizer/train-bpe.mjs) on a fixed,
 * lockfile-pinned corpus: TypeScript 6.0.3's `lib.*.d.ts` (English prose and code) and its 13
 * translated diagnostic-message catalogues (Latin, Cyrillic, CJK text), plus the project's
 * prompt data. Same corpus + same trainer → byte-identical files.
 *
 *   node tools/replicas/make-tokenizers.mjs OUT_DIR [--size real|tiny]
 *
 * `--size tiny` makes the same two tokenizers with 1,024 tokens (same special tokens, the same
 * special-token ids relative to the vocabulary, the same templates) for the tiny replicas of the
 * CPU layout tests.
 * Writes OUT_DIR/smollm2/ and OUT_DIR/dialogpt/ (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json), matching the real models' tokenizers in kind, size, special tokens
 * and their ids, and chat template:
 * - smollm2: HuggingFaceTB/SmolLM2-135M-Instruct: GPT-2-style byte-level BPE, 49,152 tokens,
 *   the 17 special tokens at ids 0–16 (`<|endoftext|>` 0, `<|im_start|>` 1, `<|im_end|>` 2, …),
 *   bos `<|im_start|>`, eos/pad `<|im_end|>`, unk `<|endoftext|>`, the ChatML template with
 *   SmolLM2's default system message, model_max_length 8192.
 * - dialogpt: microsoft/DialoGPT-medium (GPT-2's tokenizer): 50,257 tokens, 256 bytes + 50,000
 *   merges, then `<|endoftext|>` as the LAST id (50256) = bos = eos = unk, model_max_length 1024,
 *   and, like the real repository, no chat template (the trainer's prompt template applies).
 * Departure: the merges are learnt from this corpus, not the real models' (their files are on
 * the hub, which these machines cannot reach); ids of ordinary tokens therefore differ.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readCorpus, tokenizerJson, trainBpe } from '../tokenizer/train-bpe.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** SmolLM2's special tokens, in id order (ids 0–16). */
export const SMOLLM2_SPECIAL_TOKENS = [
  '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<repo_name>', '<reponame>', '<file_sep>', '<filename>',
  '<gh_stars>', '<issue_start>', '<issue_comment>', '<issue_closed>', '<jupyter_start>', '<jupyter_text>',
  '<jupyter_code>', '<jupyter_output>', '<jupyter_script>', '<empty_output>',
];

/** SmolLM2-Instruct's chat template (ChatML with a default system message). */
export const SMOLLM2_CHAT_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** The fixed corpus (see the header). */
export function replicaCorpus() {
  const ts = join(root, 'node_modules', 'typescript', 'lib');
  const version = JSON.parse(readFileSync(join(root, 'node_modules', 'typescript', 'package.json'), 'utf8')).version;
  if (version !== '6.0.3') throw new Error(`the replica corpus is TypeScript 6.0.3's lib files; node_modules has ${version}`);
  const texts = [];
  for (const name of readdirSync(ts).filter((n) => /^lib\..*\.d\.ts$/u.test(n)).sort()) {
    texts.push(...readFileSync(join(ts, name), 'utf8').split('\n'));
  }
  for (const dir of readdirSync(ts, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    let messages;
    try {
      messages = JSON.parse(readFileSync(join(ts, dir, 'diagnosticMessages.generated.json'), 'utf8'));
    } catch {
      continue;
    }
    texts.push(...Object.values(messages).filter((v) => typeof v === 'string'));
  }
  texts.push(...readCorpus(join(root, 'data', 'train_prompts.jsonl')), ...readCorpus(join(root, 'data', 'sft_pairs.jsonl')));
  return texts;
}

function writeJson(path, value) {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

function main(argv) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { size: { type: 'string', default: 'real' } } });
  const out = positionals[0];
  if (!out || !['real', 'tiny'].includes(values.size)) throw new Error('usage: make-tokenizers.mjs OUT_DIR [--size real|tiny]');
  const tiny = values.size === 'tiny';
  const smolSize = tiny ? 1024 : 49_152;
  const gptSize = tiny ? 1024 : 50_257;
  const texts = replicaCorpus();
  let started = Date.now();
  const smol = trainBpe(texts, { vocabSize: smolSize, minFrequency: 1, specialTokens: SMOLLM2_SPECIAL_TOKENS });
  if (smol.vocab.size !== smolSize) throw new Error(`smollm2: the corpus gave only ${smol.vocab.size} tokens`);
  const smolDir = join(out, 'smollm2');
  mkdirSync(smolDir, { recursive: true });
  writeFileSync(join(smolDir, 'tokenizer.json'), `${JSON.stringify(tokenizerJson(smol, SMOLLM2_SPECIAL_TOKENS))}\n`);
  const smolMap = { bos_token: '<|im_start|>', eos_token: '<|im_end|>', pad_token: '<|im_end|>', unk_token: '<|endoftext|>', additional_special_tokens: ['<|im_start|>', '<|im_end|>'] };
  writeJson(join(smolDir, 'tokenizer_config.json'), {
    tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false, clean_up_tokenization_spaces: false,
    model_max_length: 8192, vocab_size: smolSize, chat_template: SMOLLM2_CHAT_TEMPLATE, ...smolMap,
  });
  writeJson(join(smolDir, 'special_tokens_map.json'), smolMap);
  console.log(`smollm2: ${smol.vocab.size} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  started = Date.now();
  const gpt2 = trainBpe(texts, { vocabSize: gptSize - 1, minFrequency: 1, specialTokens: [] });
  if (gpt2.vocab.size !== gptSize - 1) throw new Error(`dialogpt: the corpus gave only ${gpt2.vocab.size} tokens`);
  gpt2.vocab.set('<|endoftext|>', gptSize - 1);
  const dialoDir = join(out, 'dialogpt');
  mkdirSync(dialoDir, { recursive: true });
  writeFileSync(join(dialoDir, 'tokenizer.json'), `${JSON.stringify(tokenizerJson(gpt2, ['<|endoftext|>']))}\n`);
  const dialoMap = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
  writeJson(join(dialoDir, 'tokenizer_config.json'), {
    tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false, add_bos_token: false, clean_up_tokenization_spaces: true,
    model_max_length: 1024, ...dialoMap,
  });
  writeJson(join(dialoDir, 'special_tokens_map.json'), dialoMap);
  console.log(`dialogpt: ${gpt2.vocab.size} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`make-tokenizers: ${error.message}`);
    process.exit(1);
  }
}
