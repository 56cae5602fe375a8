/**
 * @vlm-grpo/grpo: public entry point. See README.md for what this package holds.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/grpo' as const;
