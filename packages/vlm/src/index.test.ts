import { describe, expect, it } from 'vitest';
import * as entry from './index.js';

describe('@vlm-grpo/vlm entry point', () => {
  it('names its package and exports the public API', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/vlm');
    for (const name of ['CausalLM', 'VLMWrapper', 'sft', 'AdamW', 'initBackend', 'parseSafetensors', 'serializeSafetensors', 'postProcessPrompt', 'ruleBasedEnrichment', 'VlmError', 'clipByGlobalNorm', 'TfjsPolicyEngine']) {
      expect(entry).toHaveProperty(name);
    }
  });
});
