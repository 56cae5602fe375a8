import { describe, expect, it } from 'vitest';
import { describeBackendAbort, estimateWasmTrainingBytes, isBackendAbort, WASM_MEMORY_LIMIT_BYTES } from './wasm-memory.js';

/** The WebAssembly.RuntimeError of Node.js (not in this project's TypeScript libs). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message: string) => Error } }).WebAssembly.RuntimeError;

describe('backend aborts (a dead WASM module)', () => {
  it('recognises Emscripten aborts and failed memory growth, nothing else', () => {
    expect(isBackendAbort(new WasmRuntimeError('Aborted(). Build with -sASSERTIONS for more info.'))).toBe(true);
    expect(isBackendAbort(new Error('Aborted(OOM)'))).toBe(true);
    expect(isBackendAbort(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'))).toBe(true);
    expect(isBackendAbort(new Error('Cannot enlarge memory arrays to size 4294967296 bytes'))).toBe(true);
    expect(isBackendAbort(new Error('memory access out of bounds in a prompt'))).toBe(false);
    expect(isBackendAbort(new Error('fetch failed: Aborted by the user'))).toBe(false);
    expect(isBackendAbort(undefined)).toBe(false);
  });

  it('explains what happened and what to change, or says nothing for other errors', () => {
    const text = describeBackendAbort(new WasmRuntimeError('Aborted()'));
    expect(text).toMatch(/backend aborted \("Aborted\(\)"\), most often because its memory is full \(WASM holds at most 4 GiB; tfjs held [\d.]+ GiB in \d+ tensors\)/u);
    expect(text).toMatch(/gradient_accumulation_steps.*max_new_tokens.*beta 0.*--device webgpu/u);
    expect(describeBackendAbort(new Error('ENOSPC: no space left on device'))).toBeUndefined();
  });

  it('estimates that a 135M-parameter policy cannot train within 4 GiB of WASM memory, a 30M one can; the rule in numbers', () => {
    expect(estimateWasmTrainingBytes(134_515_008, { reference: false })).toBeGreaterThan(WASM_MEMORY_LIMIT_BYTES);
    expect(estimateWasmTrainingBytes(134_515_008)).toBeGreaterThan(estimateWasmTrainingBytes(134_515_008, { reference: false }));
    expect(estimateWasmTrainingBytes(30_000_000)).toBeLessThan(WASM_MEMORY_LIMIT_BYTES);
    const MiB = 2 ** 20;
    // 10× / 11× the fp32 weights + 20 logits-sized buffers of one micro-batch + 64 MiB
    expect(estimateWasmTrainingBytes(1_000_000, { reference: false })).toBe(40e6 + 64 * MiB);
    expect(estimateWasmTrainingBytes(1_000_000)).toBe(44e6 + 64 * MiB);
    expect(estimateWasmTrainingBytes(1_000_000, { sequences: 16, completionTokens: 77, vocabSize: 49_152 })).toBe(44e6 + 20 * 16 * 77 * 49_152 * 4 + 64 * MiB);
  });
});
