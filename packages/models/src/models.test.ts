import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { catalog, defaultModelName, defaultModelPath, listModels, MODEL_ROLES, modelPath, ModelsError, parseCatalog, resolveModel } from './index.js';

function folderBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else total += statSync(p).size;
    }
  };
  walk(dir);
  return total;
}

describe('catalog', () => {
  it('has a default model of the right role for each role, every model with its files and a model card', () => {
    for (const role of MODEL_ROLES) {
      const name = defaultModelName(role);
      expect(catalog().models.find((m) => m.name === name)?.role).toBe(role);
    }
    for (const model of listModels()) {
      const dir = modelPath(model.name);
      for (const file of model.required) expect(existsSync(join(dir, file)), `${model.name}/${file}`).toBe(true);
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/^# /);
    }
  });

  it('rejects a bad catalog naming the key', () => {
    const good = JSON.parse(JSON.stringify(catalog()));
    expect(() => parseCatalog({ ...good, defaults: { ...good.defaults, clip: 'prompt-enhancer' } })).toThrow(/defaults.clip: model "prompt-enhancer" has role policy/);
    expect(() => parseCatalog({ ...good, defaults: { ...good.defaults, policy: 'nope' } })).toThrow(/defaults.policy: expected the name of a catalog model/);
    expect(() => parseCatalog({ ...good, models: [...good.models, good.models[0]] })).toThrow(/duplicate name/);
    expect(() => parseCatalog({ models: [{ name: 'x', role: 'painter', layout: 'l', loader: 'l', required: [] }], defaults: {} })).toThrow(/models\[0\].role/);
  });

  it('ships at most 40 MB of models', () => {
    const total = listModels().reduce((sum, m) => sum + folderBytes(modelPath(m.name)), 0);
    expect(total).toBeLessThan(40e6);
  });
});

describe('resolveModel', () => {
  it('passes an id or folder through and gives the default folder without one', () => {
    expect(resolveModel('clip', 'openai/clip-vit-base-patch32')).toBe('openai/clip-vit-base-patch32');
    expect(resolveModel('diffusion')).toBe(defaultModelPath('diffusion'));
    expect(resolveModel('policy', '')).toBe(defaultModelPath('policy'));
    expect(statSync(resolveModel('policy')).isDirectory()).toBe(true);
  });

  it('names unknown models and roles', () => {
    try {
      modelPath('dall-e');
      expect.unreachable();
    } catch (error) {
      expect(ModelsError.isInstance(error) && error.code).toBe('MODELS_UNKNOWN_MODEL');
      expect(String(error)).toMatch(/known: prompt-enhancer/);
    }
    expect(() => defaultModelPath('painter' as never)).toThrow(/unknown role "painter"/);
  });
});
