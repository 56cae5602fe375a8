#!/usr/bin/env node
/**
 * Build step of @vlm-grpo/models: copy every model of catalog.json from the repository's
 * data/models/<name> into this package's models/<name> (what `npm pack` ships), after checking
 * that each folder has the files the catalog requires. Replaces models/ atomically (copy to a
 * temporary folder, then rename), so an interrupted build never leaves half a model.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = resolve(here, '..');
const source = resolve(packageRoot, '..', '..', 'data', 'models');
const catalog = JSON.parse(readFileSync(join(packageRoot, 'catalog.json'), 'utf8'));
const staging = join(packageRoot, `.models-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
try {
  for (const model of catalog.models) {
    const from = join(source, model.name);
    const missing = model.required.filter((file) => !existsSync(join(from, file)));
    if (missing.length > 0) throw new Error(`catalog.json model "${model.name}": ${from} lacks ${missing.join(', ')}`);
    // Rewritten graph copies that @vlm-grpo/sd writes beside a model it loads (model.portable-*.onnx) are not shipped.
    cpSync(from, join(staging, model.name), { recursive: true, dereference: true, filter: (source) => !/\.portable-[0-9a-f]+\.onnx$/u.test(source) });
  }
  rmSync(join(packageRoot, 'models'), { recursive: true, force: true });
  renameSync(staging, join(packageRoot, 'models'));
} catch (error) {
  rmSync(staging, { recursive: true, force: true });
  console.error(`copy-models: ${error.message}`);
  process.exit(1);
}
