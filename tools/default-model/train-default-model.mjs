#!/usr/bin/env node
/**
 * Train the project's default prompt enhancer, `data/models/prompt-enhancer/`, from nothing but the
 * repository: a byte-level BPE tokenizer trained on the project's text, a small Llama-architecture
 * causal LM initialised with seeded random weights, then supervised fine-tuning with
 * @vlm-grpo/vlm's `sft` on `data/sft_pairs.jsonl`.
 *
 * Steps (all deterministic for a given seed on a given tfjs backend):
 *   1. tokenizer: `trainBpe` (tools/tokenizer/train-bpe.mjs) on the `user_prompt` and `reference`
 *      texts of data/sft_pairs.jsonl and data/train_prompts.jsonl (never data/val_prompts.jsonl),
 *      vocabulary 3,072, special tokens `<|endoftext|>` (id 0: BOS = EOS = UNK) and `<|pad|>`
 *      (id 1). The prompt template is stored in the tokenizer as a chat template
 *      ({@link CHAT_TEMPLATE}), which `VLMWrapper` uses by default (`promptFormat: auto`); it renders
 *      exactly the plain template {@link PLAIN_TEMPLATE} (`"{prompt} Rephrase:"`, Promptist's
 *      format and VLMWrapper's default plain template), so both formats give the same tokens.
 *   2. model: {@link MODEL_CONFIG} (Llama: RMSNorm, RoPE, SwiGLU, tied embeddings),
 *      `CausalLM.fromConfig` with N(0, 0.02) matrices, unit norms (GPT-2/Llama init),
 *      seeded; saved and reloaded with `VLMWrapper.fromPretrained` on the chosen backend.
 *   3. SFT: completion-only cross-entropy (TRL `SFTTrainer` semantics, EOS appended) on
 *      (prompt, " " + reference) pairs plus as many copy-augmented pairs ({@link copyAugmentedPairs});
 *      AdamW, warm-up + cosine schedule ({@link TRAINING}).
 *   4. output: config.json, generation_config.json, model.safetensors (float32), tokenizer files,
 *      training.json (seed, steps, time, losses, machine) in `--out`. generation_config.json carries
 *      `completion_prefix: " {prompt},"` ({@link GENERATION_CONFIG}): loaders write the user's
 *      prompt and the model generates only the modifiers (the format of the SFT references).
 * Checkpoints go to `--work-dir` every 60 steps; `--resume` continues from the latest one.
 *
 * Usage: node tools/default-model/train-default-model.mjs [--out data/models/prompt-enhancer]
 *          [--steps 900] [--seed 1234] [--backend wasm] [--work-dir .tmp/default-model] [--resume]
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CausalLM, VLMWrapper, initBackend, sft } from '@vlm-grpo/vlm';

import { STOPWORDS, mulberry32, words } from '../data/text-utils.mjs';
import { readCorpus, trainBpe, writeTokenizer } from '../tokenizer/train-bpe.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Plain prompt template the model was trained with (VLMWrapper's default plain template). */
export const PLAIN_TEMPLATE = '{prompt} Rephrase:';

/**
 * The same template as a chat template (stored in tokenizer_config.json so that VLMWrapper picks it
 * up with `promptFormat: auto`): the user message(s), then " Rephrase:"; system messages are ignored.
 */
export const CHAT_TEMPLATE =
  "{%- for message in messages -%}{%- if message['role'] == 'user' -%}{{ message['content'] }}{%- endif -%}{%- endfor -%}" +
  '{%- if add_generation_prompt %} Rephrase:{% endif -%}';

/** Tokenizer settings. */
export const TOKENIZER = {
  vocabSize: 3072,
  minFrequency: 2,
  specialTokens: ['<|endoftext|>', '<|pad|>'],
  modelMaxLength: 256,
  corpus: ['data/sft_pairs.jsonl', 'data/train_prompts.jsonl'],
};

/** Model config (Hugging Face `LlamaConfig` keys); `vocab_size` is filled from the tokenizer. */
export const MODEL_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 128,
  intermediate_size: 384,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  head_dim: 32,
  hidden_act: 'silu',
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  rope_scaling: null,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: true,
  initializer_range: 0.02,
  bos_token_id: 0,
  eos_token_id: 0,
  pad_token_id: 1,
  use_cache: true,
};

/**
 * Generation defaults stored as generation_config.json (greedy, as VLMWrapper#enhancePrompt).
 * `completion_prefix` turns on VLMWrapper's `completionPrefix` for every loader of the folder: the
 * wrapper writes `" <user prompt>,"` and the model continues with the modifiers, the Promptist
 * format of every SFT reference that opens with the prompt (about 90 %). Decision (2026-11-24):
 * with it, the 1.25 M-parameter model meets issue 8's bar (100 % of the validation prompts, greedy);
 * without it the model had to copy unseen prompts token by token and kept the subject in 12.5 %.
 */
export const GENERATION_CONFIG = {
  bos_token_id: 0,
  eos_token_id: 0,
  pad_token_id: 1,
  do_sample: false,
  max_new_tokens: 77,
  repetition_penalty: 1.1,
  completion_prefix: ' {prompt},',
};

/** SFT hyper-parameters (defaults of the command). */
export const TRAINING = {
  seed: 1234,
  steps: 900,
  batchSize: 16,
  learningRate: 3e-3,
  minLearningRate: 1e-4,
  warmupSteps: 30,
  schedule: 'cosine',
  weightDecay: 0.01,
  maxGradNorm: 1,
  data: 'data/sft_pairs.jsonl',
};

/** SFT pairs of a JSONL file: prompt = user prompt, completion = " " + reference. */
export function readSftPairs(path) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      const record = JSON.parse(line);
      if (typeof record.user_prompt !== 'string' || typeof record.reference !== 'string') {
        throw new Error(`${path}:${index + 1}: expected string user_prompt and reference`);
      }
      return { prompt: record.user_prompt, completion: ` ${record.reference}` };
    });
}

/**
 * Copy augmentation: for every pair whose reference contains its user prompt verbatim, one more
 * pair in which each content word of the prompt is replaced, with probability `rate`, by a random
 * content word of another training prompt, in the prompt and in the reference alike. The new
 * prompts cannot be memorised, so the model must learn to copy the prompt (an induction circuit)
 * instead of recalling the 768 training subjects; without it the model writes a plausible but
 * different subject for unseen prompts. Deterministic for a seed (mulberry32).
 */
export function copyAugmentedPairs(pairs, { seed, rate = 0.7 } = {}) {
  const random = mulberry32(seed);
  const pool = [...new Set(pairs.flatMap((pair) => words(pair.prompt)).filter((word) => /^[a-z]{3,}$/u.test(word) && !STOPWORDS.has(word)))].sort();
  const out = [];
  for (const pair of pairs) {
    const at = pair.completion.indexOf(pair.prompt);
    if (at < 0) continue;
    const replaced = pair.prompt.replace(/[A-Za-z]+/gu, (word) =>
      word.length >= 3 && !STOPWORDS.has(word.toLowerCase()) && random() < rate ? pool[Math.floor(random() * pool.length)] : word,
    );
    out.push({ prompt: replaced, completion: pair.completion.slice(0, at) + replaced + pair.completion.slice(at + pair.prompt.length) });
  }
  return out;
}

/** Train the tokenizer into `dir` and add the chat template to its tokenizer_config.json. */
export function buildTokenizer(dir, root = ROOT) {
  const texts = TOKENIZER.corpus.flatMap((file) => readCorpus(join(root, file)));
  const trained = trainBpe(texts, { vocabSize: TOKENIZER.vocabSize, minFrequency: TOKENIZER.minFrequency, specialTokens: TOKENIZER.specialTokens });
  writeTokenizer(dir, trained, { specialTokens: TOKENIZER.specialTokens, modelMaxLength: TOKENIZER.modelMaxLength });
  const configPath = join(dir, 'tokenizer_config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(configPath, `${JSON.stringify({ ...config, chat_template: CHAT_TEMPLATE }, null, 2)}\n`);
  return { texts: texts.length, vocabSize: trained.vocab.size, merges: trained.merges.length };
}

function readOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: 'data/models/prompt-enhancer' },
      steps: { type: 'string', default: String(TRAINING.steps) },
      seed: { type: 'string', default: String(TRAINING.seed) },
      backend: { type: 'string', default: 'wasm' },
      'work-dir': { type: 'string', default: '.tmp/default-model' },
      resume: { type: 'boolean', default: false },
    },
  });
  const options = { out: values.out, steps: Number(values.steps), seed: Number(values.seed), backend: values.backend, workDir: values['work-dir'], resume: values.resume };
  if (!Number.isInteger(options.steps) || options.steps < 1) throw new Error(`--steps must be a positive integer, received ${options.steps}`);
  if (!Number.isInteger(options.seed) || options.seed < 0) throw new Error(`--seed must be a non-negative integer, received ${options.seed}`);
  return options;
}

function latestCheckpoint(dir) {
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir)
    .map((name) => /^checkpoint-(\d+)$/u.exec(name))
    .filter(Boolean)
    .map((match) => Number(match[1]))
    .sort((a, b) => b - a);
  return steps.length ? join(dir, `checkpoint-${steps[0]}`) : null;
}

async function main(argv) {
  const options = readOptions(argv);
  const started = Date.now();
  const log = (message) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${message}`);
  const out = resolve(ROOT, options.out);
  const work = resolve(ROOT, options.workDir);
  const initDir = join(work, `init-seed-${options.seed}`);
  const checkpoints = join(work, `checkpoints-seed-${options.seed}`);
  const resumeFrom = options.resume ? latestCheckpoint(checkpoints) : null;
  if (!options.resume) rmSync(checkpoints, { recursive: true, force: true });
  mkdirSync(initDir, { recursive: true });

  // 1. Tokenizer (written next to the initial weights; copied into --out by the final save).
  const tokenizer = buildTokenizer(initDir);
  log(`tokenizer: ${tokenizer.texts} texts → vocabulary ${tokenizer.vocabSize} (${tokenizer.merges} merges)`);

  // 2. Seeded random initialisation, saved in the Hugging Face layout and reloaded.
  const backend = await initBackend(options.backend);
  log(`backend: ${backend.reason}`);
  const config = { ...MODEL_CONFIG, vocab_size: tokenizer.vocabSize };
  const initial = CausalLM.fromConfig(config, { seed: options.seed, initializerRange: config.initializer_range });
  const parameters = initial.numParameters();
  await initial.save(initDir);
  initial.dispose();
  writeFileSync(join(initDir, 'generation_config.json'), `${JSON.stringify(GENERATION_CONFIG, null, 2)}\n`);
  const wrapper = await VLMWrapper.fromPretrained(initDir, { backend: options.backend, local_files_only: true });
  log(`model: Llama ${config.num_hidden_layers} layers × ${config.hidden_size} hidden, ${parameters.toLocaleString('en')} parameters, prompt format ${wrapper.promptFormat}`);

  // 3. SFT.
  const original = readSftPairs(join(ROOT, TRAINING.data));
  const augmented = copyAugmentedPairs(original, { seed: options.seed });
  const pairs = [...original, ...augmented];
  log(`sft: ${original.length} pairs + ${augmented.length} copy-augmented, ${options.steps} steps × batch ${TRAINING.batchSize}${resumeFrom ? `, resuming from ${resumeFrom}` : ''}`);
  const trainStarted = Date.now();
  const result = await sft(wrapper, pairs, {
    maxSteps: options.steps,
    batchSize: TRAINING.batchSize,
    learningRate: TRAINING.learningRate,
    minLearningRate: TRAINING.minLearningRate,
    warmupSteps: TRAINING.warmupSteps,
    schedule: TRAINING.schedule,
    weightDecay: TRAINING.weightDecay,
    maxGradNorm: TRAINING.maxGradNorm,
    seed: options.seed,
    outputDir: checkpoints,
    saveSteps: 60,
    saveTotalLimit: 1,
    resumeFrom: resumeFrom ?? undefined,
    logEvery: 10,
    logger: log,
  });
  const trainSeconds = (Date.now() - trainStarted) / 1000;
  const tail = result.history.slice(-20);
  const tailLoss = tail.reduce((sum, step) => sum + step.loss, 0) / Math.max(1, tail.length);

  // 4. Save into a fresh folder, then swap it in.
  const staging = `${out}.partial`;
  rmSync(staging, { recursive: true, force: true });
  await wrapper.save(staging);
  writeFileSync(join(staging, 'generation_config.json'), `${JSON.stringify(GENERATION_CONFIG, null, 2)}\n`);
  const samples = await wrapper.enhancePromptsDetailed(['a lighthouse', 'a cat sleeping on a sofa', 'a futuristic city at night, neon signs']);
  for (const sample of samples) log(`sample (${sample.source}): ${sample.prompt} → ${sample.text}`);
  const report = {
    command: 'npx nx run tools:train-default-model',
    arguments: argv,
    seed: options.seed,
    steps: result.steps,
    resumedFrom: resumeFrom,
    batchSize: TRAINING.batchSize,
    pairs: original.length,
    copyAugmentedPairs: augmented.length,
    epochs: (result.steps * TRAINING.batchSize) / pairs.length,
    augmentation: 'copyAugmentedPairs: one pair per pair, content words replaced with probability 0.7',
    hyperparameters: TRAINING,
    template: PLAIN_TEMPLATE,
    parameters,
    tokenizer,
    backend: backend.backend,
    finalLoss: result.finalLoss,
    meanLossLast20Steps: tailLoss,
    trainSeconds,
    totalSeconds: (Date.now() - started) / 1000,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    lossEvery10Steps: result.history.filter((step) => step.step % 10 === 0 || step.step === result.steps).map((step) => ({ step: step.step, loss: Number(step.loss.toFixed(4)) })),
  };
  report.totalSeconds = (Date.now() - started) / 1000;
  writeFileSync(join(staging, 'training.json'), `${JSON.stringify(report, null, 2)}\n`);
  for (const keep of ['README.md']) {
    if (existsSync(join(out, keep))) writeFileSync(join(staging, keep), readFileSync(join(out, keep)));
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(staging, out);
  wrapper.dispose();
  log(`done: ${result.steps} steps in ${trainSeconds.toFixed(0)} s, final loss ${result.finalLoss.toFixed(4)} (mean of last 20 steps ${tailLoss.toFixed(4)}) → ${out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`train-default-model: ${error.stack ?? error.message}`);
    process.exit(1);
  });
}
