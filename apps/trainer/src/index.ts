/**
 * @vlm-grpo/trainer: the application that composes the packages into the GRPO loop.
 * @packageDocumentation
 */

/** The npm name of this application. */
export const PACKAGE_NAME = '@vlm-grpo/trainer' as const;
