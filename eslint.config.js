// House style, enforced by `npm run lint` (run by `npm test` before the suite).
// typescript-eslint's recommended rules (syntax-only: the type-aware set doubles lint time for little
// the strict compiler does not already catch); eslint-config-prettier last, so no rule argues with
// Prettier about layout.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.cache/',
      'test-artifacts/',
      'fixtures/',
      // Generated from each Lua release's headers by scripts/layouts/generate.sh.
      'sampler/lua/versions/generated.ts',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_`-prefixed names are deliberately unused (callback positions, destructuring to drop a key).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The report page script runs in the browser (inlined into the HTML page), with d3 and
    // d3-flame-graph loaded as globals before it.
    files: ['report/flamegraph-app.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { ...globals.browser, d3: 'readonly', flamegraph: 'readonly' },
    },
  },
  prettier,
);
