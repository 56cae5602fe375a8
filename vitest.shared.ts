/**
 * Shared vitest settings for every project in the workspace.
 *
 * Sibling packages resolve to their TypeScript sources through the `@vlm-grpo/source`
 * export condition, so tests never need a prior build. Published consumers never see
 * that condition and get `dist/` instead.
 */
import { defaultServerConditions } from 'vite';
import { defineConfig, type TestProjectInlineConfiguration, type ViteUserConfig } from 'vitest/config';

/** Test options a project may override (same keys as vitest's `test` block). */
export type ProjectTestOverrides = NonNullable<TestProjectInlineConfiguration['test']>;

/** Build the vitest config of one project: node environment, tests in `src/**\/*.test.ts`. */
export function createProjectConfig(name: string, overrides: ProjectTestOverrides = {}): ViteUserConfig {
  const conditions = ['@vlm-grpo/source', ...defaultServerConditions];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name,
      environment: 'node',
      include: ['src/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      ...overrides,
    },
  });
}
