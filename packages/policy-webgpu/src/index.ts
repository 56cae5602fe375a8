export const PACKAGE_NAME = "@vlm-grpo/policy-webgpu" as const;
