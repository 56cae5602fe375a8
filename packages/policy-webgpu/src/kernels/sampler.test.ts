import { applyNoRepeatNgram, applyRepetitionPenalty, applyTopK, applyTopP, bannedNgramTokens, tokenLogProb } from '@vlm-grpo/vlm';
import { expect, it } from 'vitest';
import { describeGpu, device, random, read, run } from '../__fixtures__/gpu-test-utils.js';
import type { GpuContext } from '../gpu.js';
import { advanceStep, REMOVED_SCORE, sampleTokens, samplerFields, type SamplerSettings } from './sampler.js';

const DEFAULTS: SamplerSettings = { greedy: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, noRepeatNgramSize: 0, seed: 1 };

/**
 * Run the sampler (+ advance) for `steps` steps on fixed logits [N, V] and prompts (one per row);
 * returns tokens and log-probs [steps][N], the scores of the last step and the context ids.
 */
async function sample(ctx: GpuContext, logits: Float32Array, vocab: number, prompts: number[][], settings: Partial<SamplerSettings>, steps = 1) {
  const n = prompts.length;
  const lp = Math.max(...prompts.map((row) => row.length));
  const slots = lp + steps;
  const context = new Uint32Array(n * slots);
  prompts.forEach((row, r) => context.set(row, r * slots + lp - row.length));
  const shape = { sequences: n, vocab, slots, promptSlots: lp, steps };
  const uniform = ctx.uniform('sampler.p', samplerFields(shape, { ...DEFAULTS, ...settings }));
  const state = { buffer: ctx.upload('state', new Uint32Array(4)) };
  const scores = { buffer: ctx.buffer('scores', n * vocab * 4) };
  const history = { buffer: ctx.buffer('history', steps * n * 8) };
  const ctxIds = { buffer: ctx.upload('context', context) };
  const commands = [
    sampleTokens(ctx, 'sampler', {
      ...shape,
      uniform,
      logits: { buffer: ctx.upload('logits', logits) },
      promptLengths: { buffer: ctx.upload('plen', Uint32Array.from(prompts, (row) => row.length)) },
      state,
      context: ctxIds,
      scores,
      next: { buffer: ctx.buffer('next', n * 4) },
      positions: { buffer: ctx.buffer('pos', n * 4) },
      history,
    }),
    advanceStep(ctx, 'advance', state),
  ];
  await run(ctx, Array.from({ length: steps }, () => commands).flat());
  const raw = await ctx.read(history.buffer, steps * n * 8);
  const ids = new Uint32Array(raw);
  const lps = new Float32Array(raw);
  const tokens = Array.from({ length: steps }, (_, s) => Array.from({ length: n }, (_, r) => ids[(s * n + r) * 2]!));
  const logProbs = Array.from({ length: steps }, (_, s) => Array.from({ length: n }, (_, r) => lps[(s * n + r) * 2 + 1]!));
  const finalScores = await read(ctx, scores.buffer, n * vocab);
  const finalContext = new Uint32Array(await ctx.read(ctxIds.buffer, n * slots * 4));
  return { tokens, logProbs, scores: finalScores, context: finalContext, lp, slots };
}

const row = (x: Float32Array, r: number, v: number) => x.subarray(r * v, (r + 1) * v);

/** First index of the maximum (`torch.argmax`). */
const argmax = (x: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < x.length; i += 1) if (x[i]! > x[best]!) best = i;
  return best;
};

describeGpu('on-GPU sampler vs @vlm-grpo/vlm sampling.ts (the tfjs path)', () => {
  const vocab = 300;
  const n = 5;
  const logits = random(101, n * vocab, -4, 4);
  // Contexts with repeats: the n-gram ban and the penalty have something to act on.
  const prompts = [[5, 6, 7, 5, 6], [1, 2, 3], [9, 9, 9, 9], [250, 17, 250, 17, 250, 17], [42]];

  it('greedy: argmax after the repetition penalty and the n-gram ban; log-prob = log-softmax(x)[token]', async () => {
    const ctx = device();
    const out = await sample(ctx, logits, vocab, prompts, { greedy: true, repetitionPenalty: 1.3, noRepeatNgramSize: 2 });
    for (let r = 0; r < n; r += 1) {
      const scores = Float64Array.from(row(logits, r, vocab));
      applyRepetitionPenalty(scores, prompts[r]!, 1.3);
      applyNoRepeatNgram(scores, prompts[r]!, 2);
      const got = row(out.scores, r, vocab);
      scores.forEach((s, v) => {
        if (s === Number.NEGATIVE_INFINITY) expect(got[v]).toBe(Math.fround(REMOVED_SCORE));
        else expect(Math.abs(got[v]! - s)).toBeLessThan(1e-5);
      });
      expect(out.tokens[0]![r]).toBe(argmax(scores));
      expect(Math.abs(out.logProbs[0]![r]! - tokenLogProb(row(logits, r, vocab), out.tokens[0]![r]!))).toBeLessThan(1e-5);
    }
  });

  for (const [topK, topP] of [[20, 1], [0, 0.9], [50, 0.8], [0, 0.3]] as const) {
    it(`top-k ${topK}, top-p ${topP} at T = 0.8: kept tokens equal applyTopK/applyTopP; the draw is among them; log-prob of the tempered model`, async () => {
      const ctx = device();
      const out = await sample(ctx, logits, vocab, prompts, { temperature: 0.8, topK, topP, seed: 11 });
      for (let r = 0; r < n; r += 1) {
        const scores = Float64Array.from(row(logits, r, vocab), (x) => x / 0.8);
        applyTopK(scores, topK);
        applyTopP(scores, topP);
        const want = [...scores.keys()].filter((v) => scores[v]! > Number.NEGATIVE_INFINITY);
        const got = [...row(out.scores, r, vocab).keys()].filter((v) => out.scores[r * vocab + v]! > -1e38);
        expect(got).toEqual(want);
        expect(want).toContain(out.tokens[0]![r]);
        expect(Math.abs(out.logProbs[0]![r]! - tokenLogProb(row(logits, r, vocab), out.tokens[0]![r]!, 0.8))).toBeLessThan(1e-5);
      }
    });
  }

  it('top-k = 1 picks the greedy token at every step', async () => {
    const ctx = device();
    const greedy = await sample(ctx, logits, vocab, prompts, { greedy: true }, 3);
    const top1 = await sample(ctx, logits, vocab, prompts, { temperature: 0.7, topK: 1, seed: 5 }, 3);
    expect(top1.tokens).toEqual(greedy.tokens);
    expect(greedy.tokens[0]).toEqual(prompts.map((_, r) => argmax(row(logits, r, vocab))));
  });

  it('same seed → same tokens; another seed → other tokens; a sequence’s draws do not depend on the rows beside it', async () => {
    const ctx = device();
    const flat = random(102, 8 * 50, -1, 1);
    const eight = Array.from({ length: 8 }, (_, r) => [r + 1]);
    const a = await sample(ctx, flat, 50, eight, { seed: 7 }, 6);
    const b = await sample(ctx, flat, 50, eight, { seed: 7 }, 6);
    const c = await sample(ctx, flat, 50, eight, { seed: 8 }, 6);
    const four = await sample(ctx, flat.subarray(0, 4 * 50), 50, eight.slice(0, 4), { seed: 7 }, 6);
    expect(b.tokens).toEqual(a.tokens);
    const differing = a.tokens.flat().filter((t, i) => t !== c.tokens.flat()[i]).length;
    expect(differing).toBeGreaterThan(24); // of 48 draws from near-uniform distributions over 50 tokens
    expect(four.tokens).toEqual(a.tokens.map((step) => step.slice(0, 4)));
  });

  for (const size of [2, 3]) {
    it(`no-repeat-n-gram ${size}: 40 sampled steps never repeat an n-gram of prompt + completion; the context ids hold them`, async () => {
      const ctx = device();
      const v = 30;
      // A few tokens dominate, so repeats are likely without the ban.
      const peaked = Float32Array.from({ length: 4 * v }, (_, i) => (i % v < 4 ? 4 : 0));
      const starts = [[0, 1, 0, 1], [2], [3, 3], [0, 2, 0]];
      const out = await sample(ctx, peaked, v, starts, { noRepeatNgramSize: size, seed: 3 }, 40);
      starts.forEach((prompt, r) => {
        const sequence = [...prompt, ...out.tokens.map((step) => step[r]!)];
        // vlm's reference: no generated token is one bannedNgramTokens forbids after its prefix
        for (let e = prompt.length; e < sequence.length; e += 1) expect(bannedNgramTokens(sequence.slice(0, e), size).has(sequence[e]!)).toBe(false);
        expect(Array.from(out.context.subarray(r * out.slots + out.lp - prompt.length, (r + 1) * out.slots))).toEqual(sequence);
      });
    });
  }

  /** Pearson χ² of observed counts against probabilities. */
  const chiSquare = (counts: number[], probs: number[], total: number) => counts.reduce((a, c, i) => a + (c - probs[i]! * total) ** 2 / (probs[i]! * total), 0);
  const softmax = (x: number[]) => {
    const m = Math.max(...x);
    const e = x.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };

  it('empirical frequencies of 5,000 draws match softmax(logits / T), also after top-k (χ² below the 10⁻⁴ critical value)', async () => {
    const ctx = device();
    const base = [2, 1.2, 0.5, 0, -0.7, -1.5];
    const rows = 1000;
    const steps = 5;
    const many = Float32Array.from({ length: rows * base.length }, (_, i) => base[i % base.length]!);
    const prompts = Array.from({ length: rows }, () => [0]);
    for (const [topK, critical] of [[0, 25.74], [3, 18.42]] as const) {
      const out = await sample(ctx, many, base.length, prompts, { temperature: 0.7, topK, seed: 2024 }, steps);
      const counts = new Array<number>(base.length).fill(0);
      out.tokens.flat().forEach((t) => (counts[t]! += 1));
      const kept = topK ? base.slice(0, topK) : base;
      const probs = softmax(kept.map((x) => x / 0.7));
      const chi = chiSquare(counts.slice(0, kept.length), probs, rows * steps);
      expect(counts.slice(kept.length).every((c) => c === 0)).toBe(true);
      expect(chi).toBeLessThan(critical);
    }
  });
});
