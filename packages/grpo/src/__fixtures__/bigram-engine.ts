/**
 * A tiny policy engine for tests, in plain TypeScript (no ML framework): a bigram language model
 * over a vocabulary of V tokens (token 0 = EOS). The next-token logits after token p are
 * W[p] + b (W [V, V], b [V]). Prompts are encoded one character per token
 * (1 + charCode mod (V − 1)); completions decode token t as the letter 'a' + t (EOS is dropped).
 *
 * It implements the whole PolicyEngine port with exact, hand-derived math:
 * - log p(y | p) = z_y − logsumexp(z), z = (W[p] + b) / T; entropy −Σ softmax(z)·log softmax(z);
 * - backward of Σ g·log p: dz_j = g·([j = y] − softmax(z)_j), dW[p][j] += dz_j / T, db[j] += dz_j / T;
 * - optimizerStep: global norm √Σ grad² (float64), clip coefficient min(1, max / (norm + 1e-6))
 *   (`clip_grad_norm_`), then PyTorch AdamW per element with decoupled decay on W only (rank 2);
 * - seeded sampling with log-probs before any filtering (temperature 0 = greedy).
 */
import type {
  AdamWHyperParameters,
  LogProbOptions,
  OptimizerStateData,
  OptimizerStepOptions,
  PerTokenResult,
  PolicyEngine,
  PolicySampleOptions,
  PolicySampleResult,
  TokenBatch,
} from '../policy-engine.js';
import { SeededRng } from '../rng.js';

export const EOS = 0;

interface Param {
  name: 'w' | 'b';
  shape: number[];
  value: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  decay: boolean;
}

export class BigramEngine implements PolicyEngine {
  readonly vocabSize: number;
  private readonly params: Param[];
  private readonly hyper: Required<AdamWHyperParameters>;
  private step = 0;
  private last: { batch: TokenBatch; temperature: number } | undefined;
  private disposed = false;
  /** Calls per method, for tests of what the trainer drives. */
  readonly calls: Record<string, number> = {};

  constructor(vocabSize: number, init: { w: Float32Array; b: Float32Array }, hyper: AdamWHyperParameters = {}) {
    this.vocabSize = vocabSize;
    const param = (name: 'w' | 'b', shape: number[], value: Float32Array): Param => ({
      name,
      shape,
      value: Float32Array.from(value),
      grad: new Float32Array(value.length),
      m: new Float32Array(value.length),
      v: new Float32Array(value.length),
      decay: shape.length >= 2,
    });
    this.params = [param('w', [vocabSize, vocabSize], init.w), param('b', [vocabSize], init.b)];
    this.hyper = { beta1: hyper.beta1 ?? 0.9, beta2: hyper.beta2 ?? 0.999, epsilon: hyper.epsilon ?? 1e-8, weightDecay: hyper.weightDecay ?? 0 };
  }

  /** Random init: W ~ N(0, scale²) from a seeded generator, b = eosBias on EOS else 0. */
  static random(vocabSize: number, seed: number, scale = 0.5, eosBias = 0, hyper: AdamWHyperParameters = {}): BigramEngine {
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
    return new BigramEngine(vocabSize, { w, b }, hyper);
  }

  /** Copies of W and b (for tests). */
  weights(): number[][] {
    return this.params.map((p) => Array.from(p.value));
  }

  /** Overwrite one weight (for finite differences). */
  setWeight(param: number, index: number, value: number): void {
    this.params[param]!.value[index] = value;
  }

  /** Copies of the accumulated gradients (for tests). */
  gradients(): number[][] {
    return this.params.map((p) => Array.from(p.grad));
  }

  encode(prompt: string): number[] {
    const ids = [...prompt].map((c) => 1 + (c.codePointAt(0)! % (this.vocabSize - 1)));
    return ids.length === 0 ? [1] : ids;
  }

  private count(method: string): void {
    if (this.disposed) throw new Error(`BigramEngine.${method}: used after dispose()`);
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  /** log softmax((W[prev] + b) / T) as float64. */
  private logSoftmax(prev: number, temperature: number): Float64Array {
    const V = this.vocabSize;
    const w = this.params[0]!.value;
    const b = this.params[1]!.value;
    const z = Float64Array.from({ length: V }, (_, j) => (w[prev * V + j]! + b[j]!) / temperature);
    let max = -Infinity;
    for (const x of z) max = Math.max(max, x);
    let sum = 0;
    for (const x of z) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    return z.map((x) => x - lse);
  }

  async sample(prompts: string[], options: PolicySampleOptions = {}): Promise<PolicySampleResult> {
    this.count('sample');
    const g = options.numReturnSequences ?? 1;
    const maxNew = options.maxNewTokens ?? 64;
    const temperature = options.temperature ?? 1;
    const rng = new SeededRng(options.seed ?? 0);
    const V = this.vocabSize;
    const out: PolicySampleResult = { promptIds: [], completionIds: [], completionLogProbs: [], texts: [], truncated: [] };
    for (const prompt of prompts) {
      const promptIds = this.encode(prompt);
      for (let k = 0; k < g; k++) {
        const ids: number[] = [];
        const lps: number[] = [];
        let prev = promptIds[promptIds.length - 1]!;
        let ended = false;
        while (ids.length < maxNew) {
          const logp = this.logSoftmax(prev, temperature === 0 ? 1 : temperature);
          let tok = V - 1;
          if (temperature === 0) {
            tok = logp.indexOf(Math.max(...logp));
          } else {
            const u = rng.nextFloat();
            let acc = 0;
            for (let j = 0; j < V; j++) {
              acc += Math.exp(logp[j]!);
              if (u < acc) {
                tok = j;
                break;
              }
            }
          }
          ids.push(tok);
          lps.push(logp[tok]!);
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

  private forward(batch: TokenBatch, options: LogProbOptions): PerTokenResult {
    const temperature = options.temperature ?? 1;
    const logProbs: Float32Array[] = [];
    const entropy: Float32Array[] = [];
    batch.completionIds.forEach((ids, i) => {
      const prompt = batch.promptIds[i]!;
      const lp = new Float32Array(ids.length);
      const ent = new Float32Array(ids.length);
      ids.forEach((tok, t) => {
        const logp = this.logSoftmax(t === 0 ? prompt[prompt.length - 1]! : ids[t - 1]!, temperature);
        lp[t] = logp[tok]!;
        ent[t] = -logp.reduce((s, x) => s + Math.exp(x) * x, 0);
      });
      logProbs.push(lp);
      entropy.push(ent);
    });
    return options.withEntropy === true ? { logProbs, entropy } : { logProbs };
  }

  async logProbs(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    this.count('logProbs');
    return this.forward(batch, options);
  }

  async forwardTrain(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    this.count('forwardTrain');
    this.last = { batch, temperature: options.temperature ?? 1 };
    return this.forward(batch, options);
  }

  async backward(gradLogProbs: readonly Float32Array[]): Promise<void> {
    this.count('backward');
    if (this.last === undefined) throw new Error('BigramEngine.backward: no forwardTrain batch');
    const { batch, temperature } = this.last;
    const V = this.vocabSize;
    const gw = this.params[0]!.grad;
    const gb = this.params[1]!.grad;
    batch.completionIds.forEach((ids, i) => {
      const prompt = batch.promptIds[i]!;
      const g = gradLogProbs[i]!;
      if (g.length !== ids.length) throw new Error(`BigramEngine.backward: row ${i} has ${g.length} gradients for ${ids.length} tokens`);
      ids.forEach((tok, t) => {
        if (g[t] === 0) return;
        const prev = t === 0 ? prompt[prompt.length - 1]! : ids[t - 1]!;
        const logp = this.logSoftmax(prev, temperature);
        for (let j = 0; j < V; j++) {
          const dz = (g[t]! * ((j === tok ? 1 : 0) - Math.exp(logp[j]!))) / temperature;
          gw[prev * V + j] = gw[prev * V + j]! + dz;
          gb[j] = gb[j]! + dz;
        }
      });
    });
  }

  async optimizerStep(options: OptimizerStepOptions): Promise<{ gradNorm: number }> {
    this.count('optimizerStep');
    let sq = 0;
    for (const p of this.params) for (const x of p.grad) sq += x * x;
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm)) {
      for (const p of this.params) p.grad.fill(0);
      return { gradNorm };
    }
    const max = options.maxGradNorm;
    const coef = max !== undefined && max > 0 ? Math.min(1, max / (gradNorm + 1e-6)) : 1;
    const { beta1, beta2, epsilon, weightDecay } = this.hyper;
    const lr = options.learningRate;
    this.step += 1;
    const stepSize = lr / (1 - beta1 ** this.step);
    const sqrtBc2 = Math.sqrt(1 - beta2 ** this.step);
    for (const p of this.params) {
      for (let k = 0; k < p.value.length; k++) {
        const g = p.grad[k]! * coef;
        let x = p.value[k]!;
        if (p.decay && weightDecay !== 0) x *= 1 - lr * weightDecay;
        p.m[k] = beta1 * p.m[k]! + (1 - beta1) * g;
        p.v[k] = beta2 * p.v[k]! + (1 - beta2) * g * g;
        p.value[k] = x - (stepSize * p.m[k]!) / (Math.sqrt(p.v[k]!) / sqrtBc2 + epsilon);
      }
      p.grad.fill(0);
    }
    return { gradNorm };
  }

  async zeroGrad(): Promise<void> {
    this.count('zeroGrad');
    for (const p of this.params) p.grad.fill(0);
  }

  async clone(): Promise<BigramEngine> {
    this.count('clone');
    return new BigramEngine(this.vocabSize, { w: this.params[0]!.value, b: this.params[1]!.value }, this.hyper);
  }

  async syncFrom(source: PolicyEngine, alpha: number): Promise<void> {
    this.count('syncFrom');
    if (!(source instanceof BigramEngine)) throw new Error('BigramEngine.syncFrom: source is not a BigramEngine');
    this.params.forEach((p, i) => {
      const src = source.params[i]!.value;
      for (let k = 0; k < p.value.length; k++) p.value[k] = alpha * src[k]! + (1 - alpha) * p.value[k]!;
    });
  }

  async getOptimizerState(): Promise<OptimizerStateData> {
    this.count('getOptimizerState');
    return {
      step: this.step,
      parameters: Object.fromEntries(
        this.params.map((p) => [p.name, { shape: [...p.shape], weights: Float32Array.from(p.value), m: Float32Array.from(p.m), v: Float32Array.from(p.v) }]),
      ),
    };
  }

  async setOptimizerState(state: OptimizerStateData): Promise<void> {
    this.count('setOptimizerState');
    const names = Object.keys(state.parameters);
    if (names.join(',') !== 'w,b') throw new Error(`BigramEngine.setOptimizerState: expected parameters w, b; got ${names.join(', ')}`);
    for (const p of this.params) {
      const s = state.parameters[p.name]!;
      if (s.shape.join(',') !== p.shape.join(',') || s.weights.length !== p.value.length) {
        throw new Error(`BigramEngine.setOptimizerState: parameter ${p.name}: expected shape [${p.shape.join(', ')}], got [${s.shape.join(', ')}]`);
      }
    }
    for (const p of this.params) {
      const s = state.parameters[p.name]!;
      p.value.set(s.weights);
      if (s.m === undefined) p.m.fill(0);
      else p.m.set(s.m);
      if (s.v === undefined) p.v.fill(0);
      else p.v.set(s.v);
      p.grad.fill(0);
    }
    this.step = state.step;
  }

  dispose(): void {
    this.disposed = true;
  }
}
