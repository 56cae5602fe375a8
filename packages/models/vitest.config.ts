import { createProjectConfig } from '../../vitest.shared.js';

export default createProjectConfig('@vlm-grpo/models');
