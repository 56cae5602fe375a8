// Lint rules shared by every project: typescript-eslint's recommended set, plus a ban on
// deep imports into sibling packages (only their public entry point may be imported).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.d.ts', '.nx/**', '.device/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@vlm-grpo/*/*', '!@vlm-grpo/*/package.json'],
              message: 'Import a sibling package through its public entry point only.',
            },
          ],
        },
      ],
    },
  },
);
