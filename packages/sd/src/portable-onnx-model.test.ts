/**
 * The rewritten copy appears atomically: while it is being written, no reader (another rollout
 * worker loading the same model) can see the target file, and a write that fails midway leaves
 * neither the target nor its temporary file. `node:fs`'s `writeSync` is wrapped to look at the
 * folder between the writes.
 */
import * as realFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ONNX_ELEMENT_TYPES, onnxModelBytes } from './onnx-proto.js';

const hooks: { onWrite?: () => void } = {};
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof realFs>();
  return {
    ...fs,
    writeSync: (...args: Parameters<typeof fs.writeSync>) => {
      hooks.onWrite?.();
      return (fs.writeSync as (...a: unknown[]) => number)(...args);
    },
  };
});

const { portableOnnxModel } = await import('./portable-onnx-model.js');
const { contribOpsToLower } = await import('./onnx-contrib-lowering.js');

const dir = realFs.mkdtempSync(join(tmpdir(), 'vlm-grpo-portable-'));
afterAll(() => realFs.rmSync(dir, { recursive: true, force: true }));

/** A model with a BiasAdd (lowered for the CPU) and a 64 KiB initializer (the copy is written in many pieces). */
function model(folder: string): string {
  realFs.mkdirSync(folder, { recursive: true });
  const path = join(folder, 'model.onnx');
  const big = new Float32Array(16 << 10);
  realFs.writeFileSync(
    path,
    onnxModelBytes(
      {
        name: 'g',
        nodes: [
          { op: 'BiasAdd', domain: 'com.microsoft', inputs: ['x', 'bias', 'x'], outputs: ['y'] },
          { op: 'Shape', inputs: ['big'], outputs: ['s'] },
        ],
        inputs: [{ name: 'x', elemType: ONNX_ELEMENT_TYPES.float32, dims: [1, 4] }],
        outputs: [{ name: 'y', elemType: ONNX_ELEMENT_TYPES.float32, dims: [1, 4] }, { name: 's', elemType: ONNX_ELEMENT_TYPES.int64, dims: [1] }],
        initializers: [
          { name: 'bias', elemType: ONNX_ELEMENT_TYPES.float32, dims: [4], raw: new Uint8Array(16) },
          { name: 'big', elemType: ONNX_ELEMENT_TYPES.float32, dims: [big.length], raw: new Uint8Array(big.buffer) },
        ],
      },
      17,
      { 'com.microsoft': 1 },
    ),
  );
  return path;
}

const copies = (folder: string): string[] => realFs.readdirSync(folder).filter((f) => f.includes('.portable-'));

describe('the rewritten copy appears atomically', () => {
  it('no reader sees the target before it is complete; no temporary file is left', () => {
    const folder = join(dir, 'ok');
    model(folder);
    const seen: string[][] = [];
    hooks.onWrite = () => void seen.push(copies(folder));
    const result = portableOnnxModel(join(folder, 'model.onnx'), { lower: contribOpsToLower('cpu') });
    hooks.onWrite = undefined;
    expect(result?.written).toBe(true);
    expect(seen.length).toBeGreaterThan(3);
    // During the writes only the temporary file exists, never the target itself.
    for (const listing of seen) expect(listing.every((f) => /\.tmp-\d+$/u.test(f))).toBe(true);
    expect(copies(folder)).toEqual([result!.path.split('/').at(-1)]);
  });

  it('a write that fails midway leaves neither the target nor the temporary file', () => {
    const folder = join(dir, 'fail');
    model(folder);
    let writes = 0;
    hooks.onWrite = () => {
      if (++writes === 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    expect(() => portableOnnxModel(join(folder, 'model.onnx'), { lower: contribOpsToLower('cpu') })).toThrow(/ENOSPC/u);
    hooks.onWrite = undefined;
    expect(copies(folder)).toEqual([]);
  });
});
