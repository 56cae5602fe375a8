/**
 * `TfjsPolicyEngine`: @vlm-grpo/grpo's `PolicyEngine` port on a TensorFlow.js model (any
 * {@link TfjsPolicy}, e.g. {@link VLMWrapper}), on whatever tfjs backend is active (cpu, wasm,
 * tensorflow, webgpu). It is the CPU path of GRPO and the parity oracle of other engines.
 *
 * - `logProbs`: the policy's `sequenceLogProbs` [N, Tmax] in `tf.tidy`, read back asynchronously
 *   (`data()`, WebGPU has no synchronous read in Node) and split into rows of Lc_i values.
 * - `forwardTrain`: the same values; it records the batch and temperature for `backward`.
 * - `backward(g)`: `tf.variableGrads` of Σ_i Σ_t g[i][t]·logp[i][t] (g zero-padded to [N, Tmax]),
 *   added to the accumulated gradients (one tensor per variable, kept between calls).
 *   Departure from a fused engine: tfjs keeps no activations between calls, so `backward`
 *   recomputes the forward of the recorded batch (one extra forward per micro-batch, as
 *   full-model activation recomputation); the values are identical (same ops, same inputs).
 * - `optimizerStep`: `clipByGlobalNorm` (PyTorch `clip_grad_norm_`) then {@link AdamW} (PyTorch
 *   `torch.optim.AdamW`, decay on rank ≥ 2 variables) from `optim.ts`; a non-finite norm skips the
 *   update (gradients dropped, nothing else changes). Gradients are zeroed either way.
 * - Memory (the WASM backend holds at most 4 GiB): policy P + accumulated gradients P + AdamW
 *   moments 2P, a reference model P more; the optimizer step works in chunks of 2^22 values and
 *   clipping and accumulation free each input as they go, so their temporaries stay far below P
 *   (SmolLM2-135M: P = 538 MB; one flat update used to need ≈ 17P and aborted WASM).
 * - `clone`: `policy.clone()` in a new engine (fresh optimizer, same hyper-parameters);
 *   `syncFrom`: ref ← α·π + (1−α)·ref per variable (from any engine, by parameter name).
 * - `getOptimizerState`/`setOptimizerState`: weights and AdamW moments by parameter name
 *   (`parameterNames()` of the policy, else `param.<index>`), checked before anything changes.
 * The engine owns the policy: `dispose()` frees the policy, the gradients and the moments. AdamW's
 * moments are allocated on the first optimizer step or state restore, so a reference copy or an
 * inference-only engine costs no optimizer memory.
 */
import * as tf from '@tensorflow/tfjs';
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
} from '@vlm-grpo/grpo';
import { VlmError } from './errors.js';
import { AdamW, clipByGlobalNorm } from './optim.js';
import type { TfjsPolicy } from './policy.js';

/** Options of {@link TfjsPolicyEngine} (AdamW defaults: `torch.optim.AdamW`, weight decay 0 as TRL). */
export type TfjsPolicyEngineOptions = AdamWHyperParameters;

/** The `PolicyEngine` port on a tfjs policy (see the file header). */
export class TfjsPolicyEngine implements PolicyEngine {
  /** The tfjs policy (owned by the engine). */
  readonly policy: TfjsPolicy;
  /** AdamW hyper-parameters, fixed at creation. */
  readonly options: Readonly<TfjsPolicyEngineOptions>;
  private readonly variables: tf.Variable[];
  private readonly names: string[];
  /** Created on first use: a reference model (or an inference-only engine) never allocates moments. */
  private adam: AdamW | null = null;
  /** Accumulated gradients, one per variable; null when zero. */
  private grads: tf.Tensor[] | null = null;
  private last: { promptIds: number[][]; completionIds: number[][]; temperature: number } | undefined;
  private disposed = false;

  constructor(policy: TfjsPolicy, options: TfjsPolicyEngineOptions = {}) {
    this.policy = policy;
    this.options = { ...options };
    // TfjsPolicy types tensors structurally (tf-tensor.ts); they are tfjs tensors and variables.
    this.variables = policy.trainableVariables() as tf.Variable[];
    if (this.variables.length === 0) throw new VlmError('VLM_INVALID_ARGUMENT', 'TfjsPolicyEngine: the policy has no trainable variables');
    this.names = policy.parameterNames?.() ?? this.variables.map((_, i) => `param.${i}`);
    if (this.names.length !== this.variables.length || new Set(this.names).size !== this.names.length) {
      throw new VlmError(
        'VLM_INVALID_ARGUMENT',
        `TfjsPolicyEngine: parameterNames() must give ${this.variables.length} distinct names (one per trainable variable), got ${this.names.length}`,
      );
    }
  }

  private get optimizer(): AdamW {
    this.adam ??= new AdamW(this.variables, {
      ...(this.options.beta1 === undefined ? {} : { beta1: this.options.beta1 }),
      ...(this.options.beta2 === undefined ? {} : { beta2: this.options.beta2 }),
      ...(this.options.epsilon === undefined ? {} : { epsilon: this.options.epsilon }),
      weightDecay: this.options.weightDecay ?? 0,
    });
    return this.adam;
  }

  /** Parameter names, in the order of the policy's trainable variables. */
  get parameterNames(): readonly string[] {
    return this.names;
  }

  private assertLive(method: string): void {
    if (this.disposed) throw new VlmError('VLM_DISPOSED', `TfjsPolicyEngine.${method}: the engine was disposed`);
  }

  /** Sample with the policy (prompt-major rows, log-probs of the sampled tokens). */
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult> {
    this.assertLive('sample');
    return this.policy.sample(prompts, options);
  }

  /** Per-token log-probs (and entropy) of the completion positions, no gradient state kept. */
  async logProbs(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    this.assertLive('logProbs');
    const promptIds = batch.promptIds.map((row) => [...row]);
    const completionIds = batch.completionIds.map((row) => [...row]);
    const lengths = completionIds.map((row) => row.length);
    const { logProbs, entropy } = tf.tidy(
      () =>
        this.policy.sequenceLogProbs(promptIds, completionIds, {
          ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
          withEntropy: options.withEntropy === true,
        }) as { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D },
    );
    try {
      const width = logProbs.shape[1];
      if (logProbs.shape[0] !== lengths.length || width !== Math.max(0, ...lengths)) {
        throw new VlmError(
          'VLM_INVALID_ARGUMENT',
          `TfjsPolicyEngine: sequenceLogProbs returned [${logProbs.shape.join(', ')}], expected [${lengths.length}, ${Math.max(0, ...lengths)}]`,
        );
      }
      const split = (flat: Float32Array): Float32Array[] => lengths.map((length, i) => flat.slice(i * width, i * width + length));
      const [lp, ent] = await Promise.all([logProbs.data() as Promise<Float32Array>, entropy?.data() as Promise<Float32Array> | undefined]);
      return options.withEntropy === true && ent !== undefined ? { logProbs: split(lp), entropy: split(ent) } : { logProbs: split(lp) };
    } finally {
      logProbs.dispose();
      entropy?.dispose();
    }
  }

  /** As {@link logProbs}; records the batch for {@link backward}. */
  async forwardTrain(batch: TokenBatch, options: LogProbOptions = {}): Promise<PerTokenResult> {
    const out = await this.logProbs(batch, options);
    this.last = {
      promptIds: batch.promptIds.map((row) => [...row]),
      completionIds: batch.completionIds.map((row) => [...row]),
      temperature: options.temperature ?? 1,
    };
    return out;
  }

  /** Accumulate the gradient of Σ grad·logProb of the last forwardTrain batch (forward recomputed). */
  async backward(gradLogProbs: readonly Float32Array[]): Promise<void> {
    this.assertLive('backward');
    const last = this.last;
    if (last === undefined) throw new VlmError('VLM_INVALID_ARGUMENT', 'TfjsPolicyEngine.backward: call forwardTrain first');
    const n = last.completionIds.length;
    if (gradLogProbs.length !== n) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `TfjsPolicyEngine.backward: ${gradLogProbs.length} gradient rows for a batch of ${n}`);
    }
    const width = Math.max(0, ...last.completionIds.map((row) => row.length));
    const padded = new Float32Array(n * width);
    gradLogProbs.forEach((row, i) => {
      if (row.length !== last.completionIds[i]!.length) {
        throw new VlmError(
          'VLM_INVALID_ARGUMENT',
          `TfjsPolicyEngine.backward: gradient row ${i} has ${row.length} values, completion ${i} ${last.completionIds[i]!.length} tokens`,
        );
      }
      padded.set(row, i * width);
    });
    if (width === 0) return;
    const g = tf.tensor2d(padded, [n, width]);
    const { value, grads } = tf.variableGrads(() => {
      const { logProbs } = this.policy.sequenceLogProbs(last.promptIds, last.completionIds, { temperature: last.temperature });
      return tf.sum(tf.mul(logProbs as tf.Tensor2D, g)) as tf.Scalar;
    }, this.variables);
    value.dispose();
    g.dispose();
    const list = this.variables.map((v) => grads[v.name] ?? tf.zerosLike(v));
    if (this.grads === null) {
      this.grads = list;
    } else {
      // One variable at a time, freeing both addends: one gradient's worth of extra memory.
      this.grads = this.grads.map((a, i) => {
        const sum = tf.add(a, list[i]!);
        tf.dispose([a, list[i]!]);
        return sum;
      });
    }
  }

  /** Clip, AdamW at `learningRate`, zero the gradients; returns the pre-clip norm (non-finite: no update). */
  async optimizerStep(options: OptimizerStepOptions): Promise<{ gradNorm: number }> {
    this.assertLive('optimizerStep');
    const accumulated = this.grads ?? this.variables.map((v) => tf.zerosLike(v));
    this.grads = null;
    try {
      // consumeInputs: each accumulated gradient is freed as its clipped copy is made (one copy of
      // the gradients in memory, not two: SmolLM2-135M's are 538 MB).
      const { grads, norm } = await clipByGlobalNorm(accumulated, options.maxGradNorm, { consumeInputs: true });
      try {
        if (Number.isFinite(norm)) this.optimizer.step(grads, options.learningRate);
      } finally {
        tf.dispose(grads as tf.Tensor[]);
      }
      return { gradNorm: norm };
    } finally {
      tf.dispose(accumulated);
    }
  }

  /** Drop the accumulated gradients. */
  async zeroGrad(): Promise<void> {
    this.assertLive('zeroGrad');
    if (this.grads !== null) tf.dispose(this.grads);
    this.grads = null;
  }

  /** An independent copy of the policy in a new engine (fresh optimizer, same hyper-parameters). */
  async clone(): Promise<TfjsPolicyEngine> {
    this.assertLive('clone');
    return new TfjsPolicyEngine(await this.policy.clone(), this.options);
  }

  /**
   * ref ← α·π + (1−α)·ref, where `this` is the reference and `source` the policy: directly from
   * its variables when it is a TfjsPolicyEngine, else from its `getOptimizerState()` by name (any
   * engine or wrapper of one with the same parameters).
   */
  async syncFrom(source: PolicyEngine, alpha: number): Promise<void> {
    this.assertLive('syncFrom');
    if (source instanceof TfjsPolicyEngine) {
      const from = source.variables;
      if (from.length !== this.variables.length || from.some((v, i) => v.shape.join(',') !== this.variables[i]!.shape.join(','))) {
        throw new VlmError('VLM_INVALID_ARGUMENT', 'TfjsPolicyEngine.syncFrom: the source has other parameters');
      }
      tf.tidy(() => this.variables.forEach((r, i) => r.assign(tf.add(tf.mul(from[i]!, alpha), tf.mul(r, 1 - alpha)))));
      return;
    }
    const state = await source.getOptimizerState();
    this.names.forEach((name, i) => {
      const p = state.parameters[name];
      if (p === undefined || p.weights.length !== this.variables[i]!.size) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `TfjsPolicyEngine.syncFrom: the source has no parameter ${name} of ${this.variables[i]!.size} values`);
      }
    });
    tf.tidy(() =>
      this.variables.forEach((r, i) => r.assign(tf.add(tf.mul(tf.tensor(state.parameters[this.names[i]!]!.weights, r.shape), alpha), tf.mul(r, 1 - alpha)))),
    );
  }

  /** Weights and AdamW moments by parameter name, read asynchronously (any backend). */
  async getOptimizerState(): Promise<OptimizerStateData> {
    this.assertLive('getOptimizerState');
    // no optimizer yet (never stepped, e.g. a reference): moments are zero and left out
    const [adam, weights] = await Promise.all([this.adam?.getState(), Promise.all(this.variables.map((v) => v.data() as Promise<Float32Array>))]);
    return {
      step: adam?.step ?? 0,
      parameters: Object.fromEntries(
        this.names.map((name, i) => [
          name,
          {
            shape: [...this.variables[i]!.shape],
            weights: Float32Array.from(weights[i]!),
            ...(adam === undefined ? {} : { m: adam.m[i]!.data, v: adam.v[i]!.data }),
          },
        ]),
      ),
    };
  }

  /** Restore {@link getOptimizerState}'s output (moments left out: zeros); checks everything first. */
  async setOptimizerState(state: OptimizerStateData): Promise<void> {
    this.assertLive('setOptimizerState');
    const names = Object.keys(state.parameters);
    const missing = this.names.filter((name) => !(name in state.parameters));
    const extra = names.filter((name) => !this.names.includes(name));
    if (missing.length > 0 || extra.length > 0) {
      throw new VlmError(
        'VLM_INVALID_ARGUMENT',
        `TfjsPolicyEngine.setOptimizerState: parameters do not match the model` +
          (missing.length > 0 ? `; missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}` : '') +
          (extra.length > 0 ? `; unexpected ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}` : ''),
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `TfjsPolicyEngine.setOptimizerState: step must be a non-negative integer, got ${state.step}`);
    }
    this.names.forEach((name, i) => {
      const p = state.parameters[name]!;
      const shape = this.variables[i]!.shape;
      const size = this.variables[i]!.size;
      const sizes = [p.weights.length, ...(p.m === undefined ? [] : [p.m.length]), ...(p.v === undefined ? [] : [p.v.length])];
      if (p.shape.length !== shape.length || p.shape.some((d, k) => d !== shape[k]) || sizes.some((s) => s !== size)) {
        throw new VlmError(
          'VLM_INVALID_ARGUMENT',
          `TfjsPolicyEngine.setOptimizerState: parameter ${name}: expected shape [${shape.join(', ')}], got [${p.shape.join(', ')}] with ${sizes.join('/')} values`,
        );
      }
    });
    const moment = (which: 'm' | 'v') =>
      this.names.map((name, i) => ({ shape: [...this.variables[i]!.shape], data: state.parameters[name]![which] ?? new Float32Array(this.variables[i]!.size) }));
    const fresh = state.step === 0 && Object.values(state.parameters).every((p) => p.m === undefined && p.v === undefined);
    // weights only (a reference model): no moments to allocate unless the optimizer already exists
    if (!fresh || this.adam !== null) this.optimizer.setState({ step: state.step, m: moment('m'), v: moment('v') });
    tf.tidy(() => this.names.forEach((name, i) => this.variables[i]!.assign(tf.tensor(state.parameters[name]!.weights, this.variables[i]!.shape))));
    await this.zeroGrad();
  }

  /** Free the policy, the gradients and the optimizer moments. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.grads !== null) tf.dispose(this.grads);
    this.grads = null;
    this.adam?.dispose();
    this.policy.dispose();
  }
}
