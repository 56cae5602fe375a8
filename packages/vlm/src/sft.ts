/**
 * Supervised fine-tuning on (user prompt → reference rewrite) pairs, as TRL's `SFTTrainer` with
 * `completion_only_loss=True`: teacher-forced cross-entropy on the completion tokens only (the
 * templated prompt is context), averaged over all completion tokens of one optimizer step.
 *
 * One optimizer step = `gradientAccumulationSteps` micro-batches of `batchSize` pairs; each micro-batch
 * contributes −Σ log p(tokens) / (completion tokens in the whole step), so accumulated gradients equal
 * the gradient of the step's token-mean loss. Then global-norm clipping, AdamW with decoupled weight
 * decay (no decay on biases and norms), and a warm-up + cosine (or linear/constant) schedule.
 * Data order: a seeded shuffle per epoch (`deriveSeed(seed, epoch)`), so a resumed run sees the same
 * batches. Checkpoints (`outputDir/checkpoint-<step>/`) hold the model (HF layout), `optimizer.safetensors`
 * and `trainer_state.json`; `resumeFrom` restores all three. Departure from TRL: no packing, no
 * dropout; completions get EOS appended (`appendEos`, default true) so the model learns to stop.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSeededRandom, deriveSeed, shuffleInPlace, writeJsonAtomic } from '@vlm-grpo/data';
import { learningRateAt, warmupStepsFromRatio } from '@vlm-grpo/grpo';
import type { CausalLM} from './causal-lm.js';
import { readCheckpoint } from './causal-lm.js';
import { VlmError } from './errors.js';
import { AdamW, clipByGlobalNorm } from './optim.js';
import { readSafetensorsFile, tensorToFloat32, writeSafetensorsFile, type SafetensorsInput } from './safetensors.js';
import { VLMWrapper } from './vlm-wrapper.js';

/**
 * Schedule kinds of {@link SftOptions.schedule}, on @vlm-grpo/grpo's `learningRateAt` (the one
 * implementation of the transformers schedules): the warm-up applies before every kind (sft's
 * `'constant'` is `'constant_with_warmup'` there).
 */
export type ScheduleKind = 'cosine' | 'linear' | 'constant';

/** A training pair, as text (needs a {@link VLMWrapper}) or as token ids. */
export type SftPair = { prompt: string; completion: string } | { promptIds: number[]; completionIds: number[] };

/** Options of {@link sft} (defaults in brackets follow TRL/transformers where they exist). */
export interface SftOptions {
  /** Passes over the data (default: 1). */
  epochs?: number;
  /** Stop after this many optimizer steps; overrides `epochs` when > 0 (default: 0 = off). */
  maxSteps?: number;
  /** Pairs per micro-batch (default: 8). */
  batchSize?: number;
  /** Micro-batches per optimizer step (default: 1). */
  gradientAccumulationSteps?: number;
  /** Peak learning rate (default: 2e-5). */
  learningRate?: number;
  /** Final learning rate of the cosine/linear decay (default: 0). */
  minLearningRate?: number;
  /** Schedule after warm-up; the warm-up applies to every kind (default: `cosine`). */
  schedule?: ScheduleKind;
  /** Warm-up steps (default: 0). */
  warmupSteps?: number;
  /** Warm-up as a fraction of all steps in [0, 1], used when `warmupSteps` is 0 (default: 0). */
  warmupRatio?: number;
  /** AdamW weight decay (default: 0.01). */
  weightDecay?: number;
  /** AdamW β1 (default: 0.9). */
  beta1?: number;
  /** AdamW β2 (default: 0.999). */
  beta2?: number;
  /** AdamW ε (default: 1e-8). */
  epsilon?: number;
  /** Global gradient-norm clip; 0 = off (default: 1.0). */
  maxGradNorm?: number;
  /** Seed of the data order (default: 0). */
  seed?: number;
  /** Append EOS to every completion (default: true). */
  appendEos?: boolean;
  /** Truncate completions to this many tokens (default: 0 = no limit). */
  maxCompletionTokens?: number;
  /** Folder for checkpoints (default: none). */
  outputDir?: string;
  /** Save a checkpoint every N steps (0 = only at the end when `outputDir` is set) (default: 0). */
  saveSteps?: number;
  /** Keep at most this many checkpoints, oldest removed (default: 0 = all). */
  saveTotalLimit?: number;
  /** Checkpoint folder to resume from (default: none). */
  resumeFrom?: string;
  /** Called after each optimizer step. */
  onStep?: (log: SftStepLog) => void;
  /** Receives one line per `logEvery` steps (default: none). */
  logger?: (message: string) => void;
  /** Log every N steps (default: 10). */
  logEvery?: number;
}

/** Metrics of one optimizer step. */
export interface SftStepLog {
  /** Optimizer steps done (1-based). */
  step: number;
  /** Fractional epoch. */
  epoch: number;
  /** Token-mean cross-entropy of the step. */
  loss: number;
  /** Learning rate used. */
  learningRate: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  /** Completion tokens in the step. */
  tokens: number;
}

/** Result of {@link sft}. */
export interface SftResult {
  /** Optimizer steps done in total (including resumed ones). */
  steps: number;
  /** Loss of the last step. */
  finalLoss: number;
  /** Every step's metrics of this run. */
  history: SftStepLog[];
  /** Last checkpoint folder written, if any. */
  checkpoint: string | null;
}

interface TokenPair {
  promptIds: number[];
  completionIds: number[];
}

async function tokenizePairs(target: CausalLM | VLMWrapper, pairs: readonly SftPair[], options: SftOptions): Promise<TokenPair[]> {
  const model = target instanceof VLMWrapper ? target.model : target;
  const eos = target instanceof VLMWrapper ? target.eosTokenIds : model.eosTokenIds;
  const out: TokenPair[] = [];
  for (const [index, pair] of pairs.entries()) {
    let promptIds: number[];
    let completionIds: number[];
    if ('promptIds' in pair) {
      ({ promptIds, completionIds } = pair);
    } else {
      if (!(target instanceof VLMWrapper)) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `sft: pair ${index} is text; text pairs need a VLMWrapper (it owns the tokenizer and template)`);
      }
      promptIds = await target.encodePrompt(pair.prompt);
      completionIds = target.tokenizer.encode(pair.completion);
    }
    if (options.maxCompletionTokens && options.maxCompletionTokens > 0) completionIds = completionIds.slice(0, options.maxCompletionTokens);
    if ((options.appendEos ?? true) && eos.length > 0 && completionIds[completionIds.length - 1] !== eos[0]) completionIds = [...completionIds, eos[0]!];
    if (promptIds.length === 0 || completionIds.length === 0) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `sft: pair ${index} has an empty prompt or completion after tokenization`);
    }
    out.push({ promptIds, completionIds });
  }
  return out;
}

function positive(name: string, value: number, integer = true): number {
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    throw new VlmError('VLM_INVALID_ARGUMENT', `sft: ${name} must be a positive ${integer ? 'integer' : 'number'}, received ${value}`);
  }
  return value;
}

/** Load the weights of a checkpoint folder into `model` (same architecture). */
async function loadWeightsInto(model: CausalLM, dir: string): Promise<void> {
  const tensors = await readCheckpoint(dir);
  for (const spec of model.weightSpecs()) {
    const tensor = tensors.get(spec.name);
    if (!tensor) throw new VlmError('VLM_MISSING_WEIGHTS', `${dir}: checkpoint lacks ${spec.name}`);
    const variable = model.namedWeights().get(spec.name)!;
    const value = tf.tensor(tensorToFloat32(tensor, spec.name), spec.shape);
    variable.assign(value);
    value.dispose();
  }
}

/**
 * Fine-tune `target` in place on `pairs` (see the file header). Text pairs need a
 * {@link VLMWrapper}; token pairs work with a bare {@link CausalLM}.
 */
export async function sft(target: CausalLM | VLMWrapper, pairs: readonly SftPair[], options: SftOptions = {}): Promise<SftResult> {
  if (pairs.length === 0) throw new VlmError('VLM_INVALID_ARGUMENT', 'sft: no training pairs');
  const model = target instanceof VLMWrapper ? target.model : target;
  const batchSize = positive('batchSize', options.batchSize ?? 8);
  const accumulation = positive('gradientAccumulationSteps', options.gradientAccumulationSteps ?? 1);
  const learningRate = positive('learningRate', options.learningRate ?? 2e-5, false);
  const epochs = positive('epochs', options.epochs ?? 1);
  const seed = options.seed ?? 0;
  const data = await tokenizePairs(target, pairs, options);
  const microPerEpoch = Math.ceil(data.length / batchSize);
  const stepsPerEpoch = Math.max(1, Math.ceil(microPerEpoch / accumulation));
  const totalSteps = options.maxSteps && options.maxSteps > 0 ? options.maxSteps : stepsPerEpoch * epochs;
  const warmupSteps = options.warmupSteps || warmupStepsFromRatio(totalSteps, options.warmupRatio ?? 0);
  // CausalLM's public API types its variables structurally (tf-tensor.ts); they are tfjs variables.
  const variables = model.trainableVariables() as tf.Variable[];
  const optimizer = new AdamW(variables, {
    beta1: options.beta1,
    beta2: options.beta2,
    epsilon: options.epsilon,
    weightDecay: options.weightDecay ?? 0.01,
    decay: model.weightSpecs().map((spec) => spec.kind === 'matrix' || spec.kind === 'embedding'),
  });
  const history: SftStepLog[] = [];
  let checkpoint: string | null = null;
  try {
    if (options.resumeFrom) {
      await loadWeightsInto(model, options.resumeFrom);
      const state = JSON.parse(await readFile(join(options.resumeFrom, 'trainer_state.json'), 'utf8')) as { step: number };
      const moments = await readSafetensorsFile(join(options.resumeFrom, 'optimizer.safetensors'));
      const get = (name: string) => {
        const tensor = moments.tensors.get(name);
        if (!tensor) throw new VlmError('VLM_MISSING_WEIGHTS', `${options.resumeFrom}: optimizer.safetensors lacks ${name}`);
        return { shape: [...tensor.shape], data: tensorToFloat32(tensor, name) };
      };
      optimizer.setState({ step: state.step, m: variables.map((_, i) => get(`m.${i}`)), v: variables.map((_, i) => get(`v.${i}`)) });
    }
    const saveCheckpoint = async (step: number) => {
      const dir = join(options.outputDir!, `checkpoint-${step}`);
      await (target instanceof VLMWrapper ? target.save(dir) : model.save(dir));
      const state = await optimizer.getState();
      const tensors = new Map<string, SafetensorsInput>();
      variables.forEach((variable, i) => {
        tensors.set(`m.${i}`, { dtype: 'F32', shape: variable.shape, data: state.m[i]!.data });
        tensors.set(`v.${i}`, { dtype: 'F32', shape: variable.shape, data: state.v[i]!.data });
      });
      await writeSafetensorsFile(join(dir, 'optimizer.safetensors'), tensors);
      await writeJsonAtomic(join(dir, 'trainer_state.json'), { step, totalSteps, seed, history });
      checkpoint = dir;
      if (options.saveTotalLimit && options.saveTotalLimit > 0) {
        const existing = (await readdir(options.outputDir!))
          .map((name) => /^checkpoint-(\d+)$/u.exec(name))
          .filter((match): match is RegExpExecArray => match !== null)
          .map((match) => Number(match[1]))
          .sort((a, b) => a - b);
        for (const old of existing.slice(0, Math.max(0, existing.length - options.saveTotalLimit))) {
          await rm(join(options.outputDir!, `checkpoint-${old}`), { recursive: true, force: true });
        }
      }
    };
    const orderFor = (epoch: number) => shuffleInPlace(Array.from(data.keys()), createSeededRandom(deriveSeed(seed, epoch)));
    let lastLoss = Number.NaN;
    for (let step = optimizer.stepCount; step < totalSteps; step += 1) {
      // Micro-batches of this step, from the deterministic per-epoch order.
      const micro: TokenPair[][] = [];
      for (let k = 0; k < accumulation; k += 1) {
        const globalMicro = step * accumulation + k;
        const epoch = Math.floor(globalMicro / microPerEpoch);
        if (!options.maxSteps && epoch >= epochs) break;
        const order = orderFor(epoch);
        const start = (globalMicro % microPerEpoch) * batchSize;
        micro.push(order.slice(start, start + batchSize).map((index) => data[index]!));
      }
      if (micro.length === 0) break;
      const tokens = micro.flat().reduce((sum, pair) => sum + pair.completionIds.length, 0);
      let summed: tf.Tensor[] | null = null;
      let loss = 0;
      for (const batch of micro) {
        const { value, grads } = tf.variableGrads(() => {
          const { logProbs } = model.sequenceLogProbs(
            batch.map((pair) => pair.promptIds),
            batch.map((pair) => pair.completionIds),
          );
          return (logProbs as tf.Tensor2D).sum().neg().div(tokens) as tf.Scalar;
        }, variables);
        loss += (await value.data())[0]!;
        const ordered = variables.map((variable) => grads[variable.name]!);
        if (summed === null) summed = ordered;
        else {
          const next: tf.Tensor[] = summed.map((g, i) => g.add(ordered[i]!));
          tf.dispose([...summed, ...ordered]);
          summed = next;
        }
        value.dispose();
      }
      const schedule = options.schedule ?? 'cosine';
      const lr = learningRateAt(step, {
        learningRate,
        warmupSteps,
        totalSteps,
        schedulerType: schedule === 'constant' ? 'constant_with_warmup' : schedule,
        minLearningRate: options.minLearningRate ?? 0,
      });
      const clipped = await clipByGlobalNorm(summed!, options.maxGradNorm ?? 1);
      optimizer.step(clipped.grads, lr);
      tf.dispose([...summed!, ...(clipped.grads as tf.Tensor[])]);
      lastLoss = loss;
      const log: SftStepLog = {
        step: step + 1,
        epoch: ((step + 1) * accumulation) / microPerEpoch,
        loss,
        learningRate: lr,
        gradNorm: clipped.norm,
        tokens,
      };
      history.push(log);
      options.onStep?.(log);
      if (options.logger && (log.step % (options.logEvery ?? 10) === 0 || log.step === totalSteps)) {
        options.logger(`[sft] step ${log.step}/${totalSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} grad-norm ${clipped.norm.toFixed(3)}`);
      }
      if (options.outputDir && options.saveSteps && options.saveSteps > 0 && log.step % options.saveSteps === 0) await saveCheckpoint(log.step);
    }
    if (options.outputDir && checkpoint !== join(options.outputDir, `checkpoint-${optimizer.stepCount}`)) await saveCheckpoint(optimizer.stepCount);
    return { steps: optimizer.stepCount, finalLoss: lastLoss, history, checkpoint };
  } finally {
    optimizer.dispose();
  }
}
