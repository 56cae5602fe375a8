import { describe, expect, it } from 'vitest';
import { planWasmTraining, type WasmTrainingInput } from './wasm-fit.js';

// The same rule as @vlm-grpo/vlm's estimateWasmTrainingBytes (its own test pins the numbers).
const base: WasmTrainingInput = {
  activeBackend: 'wasm',
  requested: 'auto',
  numParameters: 134_515_008,
  reference: true,
  estimate: (n, { reference }) => n * 4 * (reference ? 10 : 8),
  limit: 4 * 1024 ** 3,
};

describe('planWasmTraining (the 4 GiB of the WASM backend)', () => {
  it('auto moves a policy too large for WASM to the cpu backend, saying why', () => {
    const plan = planWasmTraining(base);
    expect(plan).toEqual({
      action: 'use-cpu',
      reason:
        'training 134.5M parameters on the tfjs WASM backend needs about 5.0 GiB of its memory (10× the fp32 weights, with the reference model of beta ≠ 0), and WASM holds at most 4 GiB',
    });
  });

  it('an explicit wasm is refused with the same numbers', () => {
    expect(planWasmTraining({ ...base, requested: 'wasm', reference: false })).toMatchObject({ action: 'refuse', reason: expect.stringContaining('needs about 4.0 GiB of its memory (8× the fp32 weights)') });
  });

  it('keeps WASM for a policy that fits, and leaves other backends alone', () => {
    expect(planWasmTraining({ ...base, numParameters: 30_000_000 })).toEqual({ action: 'keep' });
    expect(planWasmTraining({ ...base, activeBackend: 'cpu' })).toEqual({ action: 'keep' });
    expect(planWasmTraining({ ...base, activeBackend: 'webgpu' })).toEqual({ action: 'keep' });
  });
});
