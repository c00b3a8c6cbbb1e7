// Layering rules: the renderer never reaches into the host side, shared/ depends on
// nothing, and core services stay runnable without Electron (CLI, web host, tests).
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'net', 'http', 'https', 'crypto', 'stream', 'worker_threads'];

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'resources/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'The renderer talks to the host only through its transport.' }],
        patterns: [
          { group: ['**/electron/**', '**/electron'], message: 'The renderer must not import host code.' },
          { group: nodeBuiltins, message: 'The renderer has no Node APIs.' },
        ],
      }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'shared/ imports nothing from the hosts.' }],
        patterns: [
          { group: ['**/electron/**', '**/renderer/**', 'react', 'react-dom'], message: 'shared/ imports nothing from either side.' },
          { group: nodeBuiltins, message: 'shared/ runs on both sides: no Node APIs.' },
        ],
      }],
    },
  },
  {
    files: ['electron/core/**/*.ts', 'electron/cli/**/*.ts', 'electron/web/**/*.ts', 'electron/bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'Core services must run without Electron (CLI, web host, tests).' }],
        patterns: [{ group: ['**/renderer/**', '**/main/**'], message: 'Core services must not depend on the UI or the Electron glue.' }],
      }],
    },
  },
);
