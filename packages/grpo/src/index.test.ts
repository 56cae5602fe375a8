import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/grpo entry point', () => {
  it('names its package', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/grpo');
  });
});
