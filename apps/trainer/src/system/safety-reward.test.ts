import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { trainerConfigSchema } from '../config/config-schema.js';
import { Logger } from '../runtime/logger.js';
import { loadRewardModels } from './load-components.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const TINY_SD = join(ROOT, 'data', 'models', 'tiny-sd');
const SAFETY = join(ROOT, 'packages', 'sd', 'src', '__fixtures__', 'tiny-safety');
const scratch = mkdtempSync(join(tmpdir(), 'trainer-safety-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function setup(sdModel: string) {
  const lines: string[] = [];
  const logger = new Logger({ console: { write: (line: string) => void lines.push(line) } as never });
  const config = trainerConfigSchema.parse({
    model_settings: { sd_model: sdModel, clip_model: join(ROOT, 'data', 'models', 'tiny-clip'), device: 'cpu' },
    reward_settings: { safety: { weight: 1 } },
  });
  return { lines, logger, config };
}

// The fixture's checker flags bright images (mean normalised CLIP pixel > 0; sd's make-safety-checker.mjs).
const solid = (value: number) => ({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(value), channels: 3 as const });

describe('the safety reward', () => {
  it('uses the diffusion folder\'s safety_checker: 1 for a safe image, 0 for a flagged one', async () => {
    const folder = join(scratch, 'tiny-sd-with-checker');
    cpSync(TINY_SD, folder, { recursive: true });
    cpSync(SAFETY, folder, { recursive: true });
    const { lines, logger, config } = setup(folder);
    const models = await loadRewardModels(config, logger);
    try {
      const rows = await models.imageRewards.components([solid(250), solid(5)], ['a cat', 'a cat'], ['a cat', 'a cat']);
      expect(rows.map((row) => (row instanceof Error ? row : row.safety))).toEqual([0, 1]);
      expect(config.reward_settings.safety.weight).toBe(1);
      expect(lines.filter((line) => line.includes('safety:'))).toHaveLength(1);
    } finally {
      await models.dispose();
    }
  });

  it('is off, with one log line, when the model has no safety checker', async () => {
    const { lines, logger, config } = setup(TINY_SD);
    const models = await loadRewardModels(config, logger);
    try {
      const safetyLines = lines.filter((line) => line.includes('safety'));
      expect(safetyLines).toHaveLength(1);
      expect(safetyLines[0]).toMatch(/safety: .*tiny-sd has no safety_checker\/model\.onnx; the safety reward is off/u);
      expect(config.reward_settings.safety.weight).toBe(0);
      const rows = await models.imageRewards.components([solid(250)], ['a cat'], ['a cat']);
      expect(rows[0] instanceof Error ? rows[0] : rows[0]!.safety).toBeUndefined();
    } finally {
      await models.dispose();
    }
  });
});
