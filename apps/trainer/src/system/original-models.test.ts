import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { trainerConfigSchema } from '../config/config-schema.js';
import { Logger } from '../runtime/logger.js';
import { loadRewardModels } from './load-components.js';

const cache = mkdtempSync(join(tmpdir(), 'trainer-original-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe("the original design's model ids", () => {
  it('SD 1.5 resolves to its ONNX export with one INFO line, and offline names the cache it looked in', async () => {
    const lines: string[] = [];
    const logger = new Logger({ console: { write: (line: string) => void lines.push(line) } as never });
    const config = trainerConfigSchema.parse({ model_settings: { sd_model: 'runwayml/stable-diffusion-v1-5', device: 'cpu', local_files_only: true, cache_dir: cache } });
    const error = await loadRewardModels(config, logger).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/could not load the diffusion model runwayml\/stable-diffusion-v1-5: .*models--onnx-community--stable-diffusion-v1-5-ONNX/u);
    const info = lines.filter((line) => line.includes('ONNX export'));
    expect(info).toHaveLength(1);
    expect(info[0]).toMatch(/^\d\d:\d\d:\d\d diffusion: runwayml\/stable-diffusion-v1-5 has no ONNX files; using its ONNX export onnx-community\/stable-diffusion-v1-5-ONNX/u);
  });
});
