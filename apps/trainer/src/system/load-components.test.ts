import { fileURLToPath } from 'node:url';
import { probeWebgpuAdapter } from '@vlm-grpo/device';
import { describe, expect, it } from 'vitest';
import { resolveTrainerConfig } from '../config/load-config.js';
import { Logger, type LogLevel } from '../runtime/logger.js';
import { loadComponents } from './load-components.js';

const repo = (path: string): string => fileURLToPath(new URL(`../../../../${path}`, import.meta.url));

/** The default policy and the world's models (repository paths), with `overrides` on top. */
const worldModels = (overrides: Record<string, unknown>) =>
  resolveTrainerConfig({
    overrides: {
      'model_settings.vlm_model': repo('data/models/prompt-enhancer'),
      'model_settings.sd_model': repo('data/models/world-sd'),
      'model_settings.clip_model': repo('data/models/world-clip'),
      'reward_settings.aesthetic.head_path': repo('data/models/world-clip/aesthetic_head.safetensors'),
      ...overrides,
    },
  });

describe('loadComponents: the console shows one line per device decision', () => {
  it('policy, diffusion and CLIP each log one INFO decision line; the reasons are at DEBUG', async () => {
    const config = await worldModels({ 'model_settings.device': 'auto' });
    const lines: { level: LogLevel; text: string }[] = [];
    const logger = new Logger({ level: 'DEBUG', console: { write: (line, level) => lines.push({ level, text: line.replace(/^\S+ (?:\w+ )?/u, '') }) } });
    const components = await loadComponents(config, logger);
    await components.dispose();
    const info = lines.filter((line) => line.level === 'INFO').map((line) => line.text);
    const decisions = (what: string) => info.filter((text) => text.startsWith(`${what}: `) && /\((auto|requested)/u.test(text));
    expect(decisions('policy')).toHaveLength(1);
    expect(decisions('diffusion')).toHaveLength(1);
    expect(decisions('clip')).toHaveLength(1);
    // where lavapipe is the only adapter (CI, this build machine), auto says so in the one line
    if ((await probeWebgpuAdapter()).status === 'software') {
      for (const what of ['policy', 'diffusion', 'clip']) expect(decisions(what)[0]).toContain('webgpu: software adapter');
    }
    const debug = lines.filter((line) => line.level === 'DEBUG').map((line) => line.text);
    expect(debug.some((text) => /^policy: \w+ \(auto.*; tensorflow (skipped|failed): /u.test(text))).toBe(true);
    expect(debug.some((text) => /details: diffusion \w+: \w+ \(auto/u.test(text))).toBe(true);
    expect(debug.some((text) => /^clip: \w+ \(auto.*; cuda skipped: /u.test(text) || /^clip: cuda \(auto/u.test(text))).toBe(true);
    expect(lines.filter((line) => line.level === 'WARNING')).toEqual([]);
  }, 120_000);
});

describe('loadComponents: a policy whose training does not fit the WASM backend moves to tfjs cpu', () => {
  it('the estimate counts the micro-batch logits with the policy vocabulary (1,024 sequences × 77 tokens × 3,072)', async () => {
    const config = await worldModels({
      'model_settings.device': 'cpu',
      'model_settings.policy_tfjs_backend': 'auto',
      'training_settings.batch_size': 64,
      'training_settings.num_generations': 16,
      'generation_settings.max_new_tokens': 77,
    });
    const lines: { level: LogLevel; text: string }[] = [];
    const logger = new Logger({ level: 'INFO', console: { write: (line, level) => lines.push({ level, text: line.replace(/^\S+ (?:\w+ )?/u, '') }) } });
    const components = await loadComponents(config, logger);
    await components.dispose();
    const moved = lines.filter((line) => line.text.startsWith('policy: moving to the tfjs cpu backend'));
    expect(moved, lines.map((line) => line.text).join('\n')).toHaveLength(1);
    expect(moved[0]!.text).toMatch(/needs about \d+\.\d GiB of its memory .*the logits of 1024 sequences × 77 tokens × 3072 vocabulary\), and WASM holds at most 4 GiB/u);
  }, 120_000);
});
