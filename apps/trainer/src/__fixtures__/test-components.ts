import { fileURLToPath } from 'node:url';
/**
 * Small stand-ins for the model packages, used by the system tests (they run in seconds and
 * make failures easy to inject). The policy is a real, trainable tfjs model: a unigram
 * distribution over a word vocabulary (token 0 = EOS), sampled with a seeded generator, with
 * exact, differentiable log-probs, behind @vlm-grpo/vlm's TfjsPolicyEngine (the engine the
 * trainer uses with `policy_backend: tfjs`), so GRPO really updates it through the port. The renderer draws an 8×8 image
 * whose colour is a hash of (prompt, seed); the image reward reads its brightness.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type * as tfType from '@tensorflow/tfjs';
import { createSeededRandom } from '@vlm-grpo/data';
import type { LogProbOptions, OptimizerStateData, OptimizerStepOptions, PolicyEngine, PolicySampleOptions, TokenBatch } from '@vlm-grpo/grpo';

import type { TrainerConfig } from '../config/config-schema.js';
import type { Logger } from '../runtime/logger.js';
import type { EnhanceOptions, ImageRenderer, ImageRewardModel, RenderedImage, RewardComponents, SystemComponents, TrainablePolicy } from '../system/ports.js';

/**
 * The base configuration of the trainer's tests (`defaultConfigFile`): the former default
 * configuration with the tiny random-weight image models, so that the tests do not follow
 * config/default_config.json.
 */
export const TINY_DEFAULT_CONFIG = fileURLToPath(new URL('./tiny-default-config.json', import.meta.url));

type Tf = typeof tfType;

/** Vocabulary of the unigram policy; index 0 is EOS. */
export const UNIGRAM_VOCAB = ['<eos>', 'detailed', 'soft', 'light', 'golden', 'hour', 'sharp', 'focus', 'vivid', 'colors', 'cinematic', 'portrait', 'wide', 'angle'];

let counter = 0;

/** A trainable unigram model over {@link UNIGRAM_VOCAB} (a tfjs policy: what TfjsPolicyEngine drives). */
export class UnigramModel {
  readonly weights: tfType.Variable;
  constructor(private readonly tf: Tf, initial?: Float32Array) {
    const values = initial ?? Float32Array.from(UNIGRAM_VOCAB, (_, index) => (index === 0 ? -1 : Math.sin(index) * 0.1));
    this.weights = tf.variable(tf.tensor1d(values), true, `unigram_${counter++}`);
  }

  private logSoftmax(temperature: number): Float32Array {
    return this.tf.tidy(() => this.tf.logSoftmax(this.tf.div(this.weights, temperature)).dataSync() as Float32Array);
  }

  async sample(prompts: string[], options: { numReturnSequences?: number; maxNewTokens?: number; temperature?: number; seed?: number } = {}) {
    const g = options.numReturnSequences ?? 1;
    const max = options.maxNewTokens ?? 16;
    const temperature = options.temperature ?? 1;
    const logp = this.logSoftmax(temperature);
    const random = createSeededRandom(options.seed ?? 0);
    const promptIds: number[][] = [];
    const completionIds: number[][] = [];
    const completionLogProbs: number[][] = [];
    const texts: string[] = [];
    const truncated: boolean[] = [];
    for (const prompt of prompts) {
      for (let k = 0; k < g; k++) {
        const ids: number[] = [];
        const lps: number[] = [];
        while (ids.length < max) {
          let u = random.nextFloat();
          let token = logp.length - 1;
          for (let index = 0; index < logp.length; index++) {
            u -= Math.exp(logp[index]!);
            if (u < 0) {
              token = index;
              break;
            }
          }
          ids.push(token);
          lps.push(logp[token]!);
          if (token === 0) break;
        }
        promptIds.push([UNIGRAM_VOCAB.length]);
        completionIds.push(ids);
        completionLogProbs.push(lps);
        truncated.push(ids.at(-1) !== 0);
        texts.push([prompt, ...ids.filter((id) => id !== 0).map((id) => UNIGRAM_VOCAB[id]!)].join(' '));
      }
    }
    return { promptIds, completionIds, completionLogProbs, texts, truncated };
  }

  sequenceLogProbs(_promptIds: number[][], completionIds: number[][], options: { withEntropy?: boolean; temperature?: number } = {}) {
    const tf = this.tf;
    const width = Math.max(0, ...completionIds.map((ids) => ids.length));
    const v = UNIGRAM_VOCAB.length;
    const oneHot = new Float32Array(completionIds.length * width * v);
    completionIds.forEach((ids, row) => ids.forEach((id, t) => (oneHot[(row * width + t) * v + id] = 1)));
    const logp = tf.logSoftmax(tf.div(this.weights, options.temperature ?? 1));
    const logProbs = tf.sum(tf.mul(tf.tensor3d(oneHot, [completionIds.length, width, v]), logp), 2) as tfType.Tensor2D;
    if (!options.withEntropy) return { logProbs };
    const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp)));
    const mask = tf.tensor2d(Float32Array.from({ length: completionIds.length * width }, (_, i) => (i % width < completionIds[Math.floor(i / width)]!.length ? 1 : 0)), [completionIds.length, width]);
    return { logProbs, entropy: tf.mul(mask, entropy) as tfType.Tensor2D };
  }

  trainableVariables(): tfType.Variable[] {
    return [this.weights];
  }

  async clone(): Promise<UnigramModel> {
    return new UnigramModel(this.tf, Float32Array.from(this.weights.dataSync() as Float32Array));
  }

  dispose(): void {
    this.weights.dispose();
  }
}

/** The trainer's policy port on a {@link UnigramModel}: a TfjsPolicyEngine plus enhancement and saving. */
export class UnigramPolicy implements TrainablePolicy {
  private constructor(
    readonly model: UnigramModel,
    private readonly engine: PolicyEngine,
  ) {}

  /** A fresh unigram model behind a TfjsPolicyEngine (AdamW settings of the configuration). */
  static async create(tf: Tf, adamW: { beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number } = {}): Promise<UnigramPolicy> {
    const { TfjsPolicyEngine } = await import('@vlm-grpo/vlm');
    const model = new UnigramModel(tf);
    return new UnigramPolicy(model, new TfjsPolicyEngine(model, adamW));
  }

  /** The trained weights (the model's variable). */
  get weights(): tfType.Variable {
    return this.model.weights;
  }

  sample(prompts: string[], options?: PolicySampleOptions) {
    return this.engine.sample(prompts, options);
  }
  logProbs(batch: TokenBatch, options?: LogProbOptions) {
    return this.engine.logProbs(batch, options);
  }
  forwardTrain(batch: TokenBatch, options?: LogProbOptions) {
    return this.engine.forwardTrain(batch, options);
  }
  backward(grads: readonly Float32Array[]) {
    return this.engine.backward(grads);
  }
  optimizerStep(options: OptimizerStepOptions) {
    return this.engine.optimizerStep(options);
  }
  zeroGrad() {
    return this.engine.zeroGrad();
  }
  clone() {
    return this.engine.clone();
  }
  syncFrom(source: PolicyEngine, alpha: number) {
    return this.engine.syncFrom(source, alpha);
  }
  getOptimizerState() {
    return this.engine.getOptimizerState();
  }
  setOptimizerState(state: OptimizerStateData) {
    return this.engine.setOptimizerState(state);
  }
  dispose(): void {
    this.engine.dispose();
  }

  async enhancePrompts(prompts: string[], _options: EnhanceOptions = {}) {
    const values = Array.from(this.weights.dataSync() as Float32Array);
    const ranked = values.map((value, index) => ({ value, index })).filter((entry) => entry.index !== 0).sort((a, b) => b.value - a.value).slice(0, 6);
    return prompts.map((prompt) => (prompt.includes('FAIL') ? new Error('enhancer failed') : { text: [prompt, ...ranked.map((entry) => UNIGRAM_VOCAB[entry.index]!)].join(' ') }));
  }

  async save(directory: string): Promise<void> {
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, 'config.json'), JSON.stringify({ model_type: 'unigram', vocab: UNIGRAM_VOCAB }));
    await writeFile(join(directory, 'weights.json'), JSON.stringify(Array.from(this.weights.dataSync() as Float32Array)));
  }
}

const hash = (text: string, seed: number): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
};

/** Options of {@link testComponents}. */
export interface TestComponentOptions {
  /** Rendering fails for rewrites for which this returns true. */
  failRender?: (prompt: string) => boolean;
  /** Keeps the created policies, to inspect their weights. */
  policies?: UnigramPolicy[];
  /** Renderer calls, to check seeds. */
  renderCalls?: { prompts: string[]; seeds: number[] }[];
}

/** A component factory for `VLMGRPOSystem` built from the stand-ins. */
export function testComponents(options: TestComponentOptions = {}) {
  return async (config: TrainerConfig, _logger: Logger, _scope?: string): Promise<SystemComponents> => {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const t = config.training_settings;
    const policy = await UnigramPolicy.create(tf, { beta1: t.adam_beta1, beta2: t.adam_beta2, epsilon: t.adam_epsilon, weightDecay: t.weight_decay });
    options.policies?.push(policy);
    const renderer: ImageRenderer = {
      async render(prompts, { seeds }) {
        options.renderCalls?.push({ prompts: [...prompts], seeds: [...seeds] });
        return prompts.map((prompt, index): RenderedImage | Error => {
          if (options.failRender?.(prompt)) return new Error(`render failed for "${prompt}"`);
          const value = hash(prompt, seeds[index]!);
          const data = new Uint8Array(8 * 8 * 3);
          for (let i = 0; i < data.length; i++) data[i] = (value >>> (8 * (i % 3))) & 0xff;
          return { width: 8, height: 8, data, channels: 3 };
        });
      },
    };
    const imageRewards: ImageRewardModel = {
      async components(images, originals, prompts) {
        return images.map((image, index): RewardComponents => {
          const brightness = image.data.reduce((sum, value) => sum + value, 0) / image.data.length / 255;
          return { relevance_to_original: brightness + (prompts[index]!.includes(originals[index]!) ? 0.1 : 0), similarity: 100 * brightness, quality: 0.5 };
        });
      },
    };
    return { policy, renderer, imageRewards, devices: { policy: 'cpu', diffusion: 'test', clip: 'test' }, async dispose() {} };
  };
}
