#!/usr/bin/env node
/**
 * `vlm-sft`: supervised fine-tuning from the command line over a JSONL file.
 *
 *   nx run @vlm-grpo/vlm:sft -- --model <folder|org/name> --data pairs.jsonl --output runs/sft [flags]
 *
 * Each JSONL line is `{"prompt": …, "completion": …}` or a prompt record of @vlm-grpo/data with a
 * `reference` (`{"user_prompt": …, "reference": …, …}`). Settings: defaults ← `--config file.json`
 * ← flags; unknown keys are errors. Checkpoints go to `<output>/checkpoint-<step>/`, the final model
 * to `<output>/final/`. The last stdout line is a JSON summary.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { VlmError } from '../errors.js';
import { sft, type SftPair } from '../sft.js';
import { VLMWrapper } from '../vlm-wrapper.js';

/** Schema of the SFT command's settings (config file keys = camelCase flag names). */
export const sftCliConfigSchema = z.strictObject({
  model: z.string().min(1),
  data: z.string().min(1),
  output: z.string().min(1),
  backend: z.enum(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']).default('auto'),
  epochs: z.number().int().positive().default(1),
  maxSteps: z.number().int().nonnegative().default(0),
  batchSize: z.number().int().positive().default(8),
  gradAccum: z.number().int().positive().default(1),
  lr: z.number().positive().default(2e-5),
  minLr: z.number().nonnegative().default(0),
  schedule: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
  warmupSteps: z.number().int().nonnegative().default(0),
  warmupRatio: z.number().min(0).max(1).default(0),
  weightDecay: z.number().nonnegative().default(0.01),
  maxGradNorm: z.number().nonnegative().default(1),
  seed: z.number().int().default(0),
  saveSteps: z.number().int().nonnegative().default(0),
  saveTotalLimit: z.number().int().nonnegative().default(0),
  resume: z.string().optional(),
  maxCompletionTokens: z.number().int().nonnegative().default(0),
  promptFormat: z.enum(['auto', 'chat', 'plain']).default('auto'),
  plainTemplate: z.string().optional(),
  systemPrompt: z.string().optional(),
  logEvery: z.number().int().positive().default(10),
});

/** Validated settings of the SFT command. */
export type SftCliConfig = z.infer<typeof sftCliConfigSchema>;

const NUMERIC = new Set(['epochs', 'maxSteps', 'batchSize', 'gradAccum', 'lr', 'minLr', 'warmupSteps', 'warmupRatio', 'weightDecay', 'maxGradNorm', 'seed', 'saveSteps', 'saveTotalLimit', 'maxCompletionTokens', 'logEvery']);

function camel(flag: string): string {
  return flag.replace(/-([a-z])/gu, (_, letter: string) => letter.toUpperCase());
}

const FLAGS = [
  'model', 'data', 'output', 'backend', 'epochs', 'max-steps', 'batch-size', 'grad-accum', 'lr', 'min-lr', 'schedule',
  'warmup-steps', 'warmup-ratio', 'weight-decay', 'max-grad-norm', 'seed', 'save-steps', 'save-total-limit', 'resume',
  'max-completion-tokens', 'prompt-format', 'plain-template', 'system-prompt', 'log-every',
] as const;

/** Usage text. */
export const SFT_USAGE = `usage: vlm-sft --model <folder|org/name> --data <pairs.jsonl> --output <dir> [--config settings.json]
  [--backend auto|tensorflow|webgpu|wasm|cpu] [--epochs 1] [--max-steps 0] [--batch-size 8] [--grad-accum 1]
  [--lr 2e-5] [--min-lr 0] [--schedule cosine|linear|constant] [--warmup-steps 0] [--warmup-ratio 0]
  [--weight-decay 0.01] [--max-grad-norm 1] [--seed 0] [--save-steps 0] [--save-total-limit 0] [--resume <checkpoint>]
  [--max-completion-tokens 0] [--prompt-format auto|chat|plain] [--plain-template "{prompt} Rephrase:"]
  [--system-prompt <text>] [--log-every 10]`;

/** Parse flags and the optional config file into validated settings (defaults ← file ← flags). */
export async function parseSftArgs(argv: readonly string[]): Promise<SftCliConfig> {
  const options = Object.fromEntries([...FLAGS.map((flag) => [flag, { type: 'string' as const }]), ['config', { type: 'string' as const }]]);
  let parsed: { values: Record<string, string | undefined> };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }) as typeof parsed;
  } catch (error) {
    throw new VlmError('VLM_INVALID_ARGUMENT', `${(error as Error).message}\n${SFT_USAGE}`);
  }
  let fromFile: Record<string, unknown> = {};
  if (parsed.values.config) {
    try {
      fromFile = JSON.parse(await readFile(parsed.values.config, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `${parsed.values.config}: cannot read JSON settings (${(error as Error).message})`);
    }
  }
  const fromFlags: Record<string, unknown> = {};
  for (const flag of FLAGS) {
    const value = parsed.values[flag];
    if (value === undefined) continue;
    const key = camel(flag);
    fromFlags[key] = NUMERIC.has(key) ? Number(value) : value;
  }
  const result = sftCliConfigSchema.safeParse({ ...fromFile, ...fromFlags });
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`).join('\n');
    throw new VlmError('VLM_INVALID_ARGUMENT', `invalid SFT settings:\n${problems}\n${SFT_USAGE}`);
  }
  return result.data;
}

const lineSchema = z.union([
  z.strictObject({ prompt: z.string().min(1), completion: z.string().min(1) }),
  z.object({ user_prompt: z.string().min(1), reference: z.string().min(1) }),
]);

/** Read `{prompt, completion}` or `{user_prompt, reference}` lines; throws listing every bad line. */
export async function readSftPairs(file: string): Promise<SftPair[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new VlmError('VLM_FILE_NOT_FOUND', `${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  const pairs: SftPair[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/u).forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      problems.push(`${file}:${index + 1}: bad JSON (${(error as Error).message})`);
      return;
    }
    const parsed = lineSchema.safeParse(value);
    if (!parsed.success) {
      problems.push(`${file}:${index + 1}: expected {"prompt", "completion"} or {"user_prompt", "reference"}`);
      return;
    }
    const data = parsed.data;
    pairs.push('prompt' in data ? { prompt: data.prompt, completion: data.completion } : { prompt: data.user_prompt, completion: data.reference });
  });
  if (problems.length > 0) throw new VlmError('VLM_INVALID_ARGUMENT', `${problems.length} invalid line(s):\n${problems.slice(0, 20).join('\n')}`);
  if (pairs.length === 0) throw new VlmError('VLM_INVALID_ARGUMENT', `${file}: no training pairs`);
  return pairs;
}

/** Run the command; returns the process exit code (0 ok, 1 runtime failure, 2 usage error). */
export async function runSftCli(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  let config: SftCliConfig;
  try {
    config = await parseSftArgs(argv);
  } catch (error) {
    log((error as Error).message);
    return 2;
  }
  const wrapper = await VLMWrapper.fromPretrained(config.model, {
    backend: config.backend,
    logger: log,
    promptFormat: config.promptFormat,
    plainTemplate: config.plainTemplate,
    systemPrompt: config.systemPrompt,
  });
  try {
    const pairs = await readSftPairs(config.data);
    const output = resolve(config.output);
    const result = await sft(wrapper, pairs, {
      epochs: config.epochs,
      maxSteps: config.maxSteps,
      batchSize: config.batchSize,
      gradientAccumulationSteps: config.gradAccum,
      learningRate: config.lr,
      minLearningRate: config.minLr,
      schedule: config.schedule,
      warmupSteps: config.warmupSteps,
      warmupRatio: config.warmupRatio,
      weightDecay: config.weightDecay,
      maxGradNorm: config.maxGradNorm,
      seed: config.seed,
      saveSteps: config.saveSteps,
      saveTotalLimit: config.saveTotalLimit,
      resumeFrom: config.resume,
      maxCompletionTokens: config.maxCompletionTokens,
      outputDir: output,
      logger: log,
      logEvery: config.logEvery,
    });
    const final = join(output, 'final');
    await wrapper.save(final);
    log(JSON.stringify({ steps: result.steps, finalLoss: result.finalLoss, pairs: pairs.length, checkpoint: result.checkpoint, final }));
    return 0;
  } finally {
    wrapper.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  runSftCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(VlmError.isInstance(error) ? `${error.code}: ${error.message}` : error);
      process.exit(1);
    },
  );
}
