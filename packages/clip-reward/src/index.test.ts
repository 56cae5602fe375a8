import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/clip-reward public entry point', () => {
  it('exports the calculator, reward factories, helpers and errors by name', () => {
    for (const name of [
      'CLIPRewardCalculator',
      'similarityReward',
      'relevanceToOriginalReward',
      'consistencyReward',
      'qualityReward',
      'aestheticReward',
      'AestheticHead',
      'imageQuality',
      'Normalizer',
      'decodeImage',
      'SafetensorsFile',
      'encodeSafetensors',
      'ClipRewardError',
      'ModelFileMissingError',
    ]) {
      expect(typeof (entry as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(entry.promptistGate(0.1)).toBeCloseTo(-3.6, 12);
  });

  it('recognises errors from another copy of the package by their brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('vlm-grpo.clip-reward.error')]: true, code: 'CLIP_EMPTY_TEXT' });
    expect(entry.ClipRewardError.isInstance(foreign)).toBe(true);
    expect(entry.ClipRewardError.isInstance(new Error('plain'))).toBe(false);
    expect(entry.ClipRewardError.isInstance(new entry.EmptyTextError(3))).toBe(true);
  });
});
