import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FLOAT, model, node, tensor, valueInfo } from './__fixtures__/onnx-writer.js';
import { DataError } from './errors.js';
import { checkModelFileName, checkOnnxExternalData, onnxExternalDataLocations, safeModelFilePath } from './model-file-paths.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'model-paths-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const unsafe = (name: unknown) => {
  try {
    checkModelFileName(name, 'model.safetensors.index.json');
  } catch (error) {
    expect(DataError.isInstance(error) && error.code).toBe('DATA_UNSAFE_PATH');
    expect((error as Error).message).toContain('model.safetensors.index.json');
    return true;
  }
  return false;
};

describe('checkModelFileName', () => {
  it('accepts relative names inside the folder', () => {
    expect(checkModelFileName('model-00001-of-00002.safetensors', 'x')).toBe('model-00001-of-00002.safetensors');
    expect(checkModelFileName('unet/model.onnx_data', 'x')).toBe('unet/model.onnx_data');
    expect(checkModelFileName('./a/./b', 'x')).toBe('a/b');
  });
  it('rejects names that escape or are not plain relative paths', () => {
    for (const name of ['../x', '../../x', 'a/../../x', 'a/..', '/etc/passwd', 'C:\\x', 'C:/x', 'a\\..\\x', 'a//b', '', '.', 'a\0b', 42, null]) {
      expect(unsafe(name), String(name)).toBe(true);
    }
  });
});

describe('safeModelFilePath', () => {
  it('joins a safe name and rejects a symlink that resolves outside the allowed root', async () => {
    const folder = join(root, 'model');
    await mkdir(folder);
    await writeFile(join(root, 'secret'), 'x');
    await writeFile(join(folder, 'ok.bin'), 'x');
    expect(await safeModelFilePath(folder, 'ok.bin', 'index')).toBe(join(folder, 'ok.bin'));
    // A name that does not exist yet (to be downloaded) is fine when it is syntactically inside.
    expect(await safeModelFilePath(folder, 'later.bin', 'index')).toBe(join(folder, 'later.bin'));
    await symlink(join(root, 'secret'), join(folder, 'link.bin'));
    await expect(safeModelFilePath(folder, 'link.bin', 'index')).rejects.toThrow(/outside the model folder/u);
    // Inside a wider allowed root (the hub cache's blobs/), the same link is accepted.
    expect(await safeModelFilePath(folder, 'link.bin', 'index', root)).toBe(join(folder, 'link.bin'));
  });
});

describe('onnxExternalDataLocations', () => {
  const graph = (location: string) =>
    model({
      nodes: [node('Add', ['x', 'w'], ['y'], 'add')],
      initializers: [tensor('w', [2], { location, length: 8 }), tensor('b', [2], Float32Array.of(1, 2))],
      inputs: [valueInfo('x', FLOAT, [2])],
      outputs: [valueInfo('y', FLOAT, [2])],
    });

  it('lists the external data files and checks them', async () => {
    await writeFile(join(root, 'model.onnx'), graph('model.onnx_data'));
    expect(await onnxExternalDataLocations(join(root, 'model.onnx'))).toEqual(['model.onnx_data']);
    expect(await checkOnnxExternalData(join(root, 'model.onnx'))).toEqual([join(root, 'model.onnx_data')]);
  });

  it('rejects a location that escapes the model folder', async () => {
    for (const location of ['../../etc/passwd', '/etc/passwd']) {
      await writeFile(join(root, 'model.onnx'), graph(location));
      await expect(checkOnnxExternalData(join(root, 'model.onnx'))).rejects.toThrow(/external data.*(escapes|absolute)/u);
    }
  });

  it('finds no location in a model with inline weights, and names a file that is not ONNX', async () => {
    await writeFile(join(root, 'inline.onnx'), model({ nodes: [node('Identity', ['x'], ['y'], 'id')], inputs: [valueInfo('x', FLOAT, [1])], outputs: [valueInfo('y', FLOAT, [1])] }));
    expect(await onnxExternalDataLocations(join(root, 'inline.onnx'))).toEqual([]);
    await writeFile(join(root, 'bad.onnx'), Uint8Array.of(0x0a, 0xff, 0xff, 0xff));
    await expect(onnxExternalDataLocations(join(root, 'bad.onnx'))).rejects.toThrow(/bad\.onnx: not a readable ONNX model/u);
  });
});
