import { createProjectConfig } from '../vitest.shared.js';

export default createProjectConfig('tools', { include: ['**/*.test.mjs'], exclude: ['**/node_modules/**'] });
