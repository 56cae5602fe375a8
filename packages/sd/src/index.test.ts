import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/sd entry point', () => {
  it('names its package', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/sd');
  });
});
