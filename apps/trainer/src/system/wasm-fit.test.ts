import { describe, expect, it } from 'vitest';
import { planWasmTraining, type WasmTrainingInput } from './wasm-fit.js';

// The same rule as @vlm-grpo/vlm's estimateWasmTrainingBytes (its own test pins the numbers).
const base: WasmTrainingInput = {
  activeBackend: 'wasm',
  requested: 'auto',
  numParameters: 134_515_008,
  reference: true,
  sequences: 16,
  completionTokens: 77,
  vocabSize: 49_152,
  estimate: (n, { reference, sequences, completionTokens, vocabSize }) => n * 4 * (reference ? 11 : 10) + 20 * sequences * completionTokens * vocabSize * 4 + 64 * 2 ** 20,
  limit: 4 * 1024 ** 3,
};

describe('planWasmTraining (the 4 GiB of the WASM backend)', () => {
  it('auto moves a policy too large for WASM to the cpu backend, saying why', () => {
    const plan = planWasmTraining(base);
    expect(plan).toEqual({
      action: 'use-cpu',
      reason:
        "training 134.5M parameters on the tfjs WASM backend needs about 10.1 GiB of its memory (the 0.50 GiB of fp32 weights, their gradients, AdamW's moments, the reference model of beta ≠ 0 and their packed matmul copies, and the logits of 16 sequences × 77 tokens × 49152 vocabulary), and WASM holds at most 4 GiB",
    });
  });

  it('an explicit wasm is refused with the same numbers', () => {
    expect(planWasmTraining({ ...base, requested: 'wasm', reference: false })).toMatchObject({ action: 'refuse', reason: expect.stringContaining("needs about 9.6 GiB of its memory (the 0.50 GiB of fp32 weights, their gradients, AdamW's moments and their packed matmul copies, and the logits") });
  });

  it('keeps WASM for a policy that fits, and leaves other backends alone', () => {
    expect(planWasmTraining({ ...base, numParameters: 30_000_000, sequences: 2 })).toEqual({ action: 'keep' });
    // the same policy with SmolLM2's vocabulary and 16 sequences of 77 tokens per micro-batch: the logits alone need 4.5 GiB
    expect(planWasmTraining({ ...base, numParameters: 30_000_000 })).toMatchObject({ action: 'use-cpu' });
    expect(planWasmTraining({ ...base, activeBackend: 'cpu' })).toEqual({ action: 'keep' });
    expect(planWasmTraining({ ...base, activeBackend: 'webgpu' })).toEqual({ action: 'keep' });
  });
});
