/**
 * A tiny trainable policy for tests: a bigram language model over a vocabulary of V tokens
 * (token 0 = EOS). The next-token logits after token p are W[p] + b. Prompts are encoded one
 * character per token (1 + charCode mod (V − 1)); completions decode token t as the letter
 * 'a' + t (EOS is dropped from the text). Implements GrpoPolicy exactly as the contract says:
 * seeded sampling, log-softmax(logits / T) log-probs before top-k/top-p, differentiable
 * sequenceLogProbs with padding and entropy.
 */
import type * as tf from '@tensorflow/tfjs';
import type { GrpoPolicy, PolicySampleOptions, PolicySampleResult } from '@vlm-grpo/vlm';
import { SeededRng } from '../rng.js';
import type { Tf } from '../tf.js';

export const EOS = 0;

export class BigramPolicy implements GrpoPolicy {
  readonly vocabSize: number;
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  private readonly tfm: Tf;

  constructor(tfm: Tf, vocabSize: number, init: { w: Float32Array; b: Float32Array }) {
    this.tfm = tfm;
    this.vocabSize = vocabSize;
    this.w = tfm.variable(tfm.tensor2d(init.w, [vocabSize, vocabSize]));
    this.b = tfm.variable(tfm.tensor1d(init.b));
  }

  /** Random init: W ~ N(0, scale²) from a seeded generator, b = eosBias on EOS else 0. */
  static random(tfm: Tf, vocabSize: number, seed: number, scale = 0.5, eosBias = 0): BigramPolicy {
    const rng = new SeededRng(seed);
    const w = new Float32Array(vocabSize * vocabSize);
    for (let i = 0; i < w.length; i++) {
      // Box–Muller
      const u = Math.max(rng.nextFloat(), 1e-12);
      const v = rng.nextFloat();
      w[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    const b = new Float32Array(vocabSize);
    b[EOS] = eosBias;
    return new BigramPolicy(tfm, vocabSize, { w, b });
  }

  encode(prompt: string): number[] {
    const ids = [...prompt].map((c) => 1 + (c.codePointAt(0)! % (this.vocabSize - 1)));
    return ids.length === 0 ? [1] : ids;
  }

  async sample(prompts: string[], options: PolicySampleOptions = {}): Promise<PolicySampleResult> {
    const g = options.numReturnSequences ?? 1;
    const maxNew = options.maxNewTokens ?? 64;
    const temperature = options.temperature ?? 1;
    const rng = new SeededRng(options.seed ?? 0);
    const V = this.vocabSize;
    const w = this.w.dataSync();
    const b = this.b.dataSync();
    const out: PolicySampleResult = { promptIds: [], completionIds: [], completionLogProbs: [], texts: [], truncated: [] };
    for (const prompt of prompts) {
      const promptIds = this.encode(prompt);
      for (let k = 0; k < g; k++) {
        const ids: number[] = [];
        const lps: number[] = [];
        let prev = promptIds[promptIds.length - 1]!;
        let ended = false;
        while (ids.length < maxNew) {
          const logits = Array.from({ length: V }, (_, j) => (w[prev * V + j]! + b[j]!) / (temperature === 0 ? 1 : temperature));
          const max = Math.max(...logits);
          const logZ = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
          let tok: number;
          if (temperature === 0) {
            tok = logits.indexOf(max);
          } else {
            const u = rng.nextFloat();
            let acc = 0;
            tok = V - 1;
            for (let j = 0; j < V; j++) {
              acc += Math.exp(logits[j]! - logZ);
              if (u < acc) {
                tok = j;
                break;
              }
            }
          }
          ids.push(tok);
          lps.push(logits[tok]! - logZ);
          prev = tok;
          if (tok === EOS) {
            ended = true;
            break;
          }
        }
        out.promptIds.push(promptIds);
        out.completionIds.push(ids);
        out.completionLogProbs.push(lps);
        out.texts.push(ids.filter((t) => t !== EOS).map((t) => String.fromCharCode(97 + t)).join(''));
        out.truncated.push(!ended);
      }
    }
    return out;
  }

  sequenceLogProbs(
    promptIds: number[][],
    completionIds: number[][],
    options: { withEntropy?: boolean; temperature?: number } = {},
  ): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D } {
    const tfm = this.tfm;
    const n = completionIds.length;
    const T = Math.max(0, ...completionIds.map((c) => c.length));
    const V = this.vocabSize;
    const prev = new Int32Array(n * T);
    const target = new Int32Array(n * T);
    const mask = new Float32Array(n * T);
    completionIds.forEach((ids, i) => {
      const p = promptIds[i]!;
      ids.forEach((tok, t) => {
        prev[i * T + t] = t === 0 ? p[p.length - 1]! : ids[t - 1]!;
        target[i * T + t] = tok;
        mask[i * T + t] = 1;
      });
    });
    const temperature = options.temperature ?? 1;
    return tfm.tidy(() => {
      const logits = tfm.div(tfm.add(tfm.gather(this.w, tfm.tensor1d(prev, 'int32')), this.b), temperature);
      const logp = tfm.logSoftmax(logits as tf.Tensor2D);
      const onehot = tfm.oneHot(tfm.tensor1d(target, 'int32'), V);
      const m = tfm.tensor2d(mask, [n, T]);
      const picked = tfm.mul(tfm.reshape(tfm.sum(tfm.mul(logp, onehot), -1), [n, T]), m) as tf.Tensor2D;
      if (options.withEntropy !== true) return { logProbs: picked };
      const lp = tfm.tensor(logp.dataSync(), logp.shape);
      const ent = tfm.mul(tfm.reshape(tfm.neg(tfm.sum(tfm.mul(tfm.exp(lp), lp), -1)), [n, T]), m) as tf.Tensor2D;
      return { logProbs: picked, entropy: ent };
    });
  }

  trainableVariables(): tf.Variable[] {
    return [this.w, this.b];
  }

  async clone(): Promise<BigramPolicy> {
    return new BigramPolicy(this.tfm, this.vocabSize, {
      w: Float32Array.from(this.w.dataSync()),
      b: Float32Array.from(this.b.dataSync()),
    });
  }

  dispose(): void {
    this.w.dispose();
    this.b.dispose();
  }
}
