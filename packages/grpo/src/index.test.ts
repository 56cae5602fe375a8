import * as vlm from '@vlm-grpo/vlm';
import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/grpo entry point', () => {
  it('names its package and exports the public API', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/grpo');
    for (const name of ['GRPOTrainer', 'encodeTrainerState', 'decodeTrainerState', 'grpoLoss', 'computeAdvantages', 'resolveGrpoConfig', 'GrpoError', 'loadTf']) {
      expect(entry).toHaveProperty(name);
    }
  });

  it("re-exports @vlm-grpo/vlm's optimizer, clipping and schedules (one implementation)", () => {
    expect(entry.AdamW).toBe(vlm.AdamW);
    expect(entry.clipByGlobalNorm).toBe(vlm.clipByGlobalNorm);
    expect(entry.learningRateAt).toBe(vlm.learningRateAt);
    expect(entry.warmupStepsFromRatio).toBe(vlm.warmupStepsFromRatio);
  });
});
