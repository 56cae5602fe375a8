import { describe, expect, it } from 'vitest';
import { describeBackendAbort, isBackendAbort } from './backend-abort.js';

describe('backend aborts (a dead WASM module)', () => {
  it('recognises Emscripten aborts and failed memory growth, nothing else', () => {
    expect(isBackendAbort(new WebAssembly.RuntimeError('Aborted(). Build with -sASSERTIONS for more info.'))).toBe(true);
    expect(isBackendAbort(new Error('Aborted(OOM)'))).toBe(true);
    expect(isBackendAbort(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'))).toBe(true);
    expect(isBackendAbort(new Error('Cannot enlarge memory arrays to size 4294967296 bytes'))).toBe(true);
    expect(isBackendAbort(new Error('memory access out of bounds in a prompt'))).toBe(false);
    expect(isBackendAbort(new Error('fetch failed: Aborted by the user'))).toBe(false);
    expect(isBackendAbort(undefined)).toBe(false);
  });

  it('explains what happened and what to change, or says nothing for other errors', () => {
    const text = describeBackendAbort(new WebAssembly.RuntimeError('Aborted()'));
    expect(text).toMatch(/backend aborted \("Aborted\(\)"\), most often because its memory is full \(WASM holds at most 4 GiB; tfjs held [\d.]+ GiB in \d+ tensors\)/u);
    expect(text).toMatch(/gradient_accumulation_steps.*max_new_tokens.*beta 0.*--device webgpu/u);
    expect(describeBackendAbort(new Error('ENOSPC: no space left on device'))).toBeUndefined();
  });
});
