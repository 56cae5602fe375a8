#!/usr/bin/env node
/**
 * Command-line entry of the trainer (`nx run trainer:train`).
 * The GRPO system is not built yet: this prints so and exits with status 0.
 */
const command = process.argv[2] ?? 'train';
process.stdout.write(
  `vlm-grpo trainer: "${command}" is not built yet. The packages are being built first; see README.md.\n`,
);
