// ESLint 9 flat config: typescript-eslint's recommended rules, plus the house's layering
// (packages/ never imports services/ or apps/, services/ never import apps/) and no import cycles.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';

const upTheLayers = (from, forbidden) => ({
  files: [`${from}/*/src/**`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((layer) => ({
          group: [`**/${layer}/**`, ...(layer === 'services' ? ['@musicflow/service-*'] : []), ...(layer === 'apps' ? ['@musicflow/cli'] : [])],
          message: `${from}/ must not import ${layer}/: the layers are packages/ → services/ → apps/ (README, Architecture).`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', '.musicflow/**', 'coverage/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  importX.flatConfigs.typescript,
  {
    languageOptions: { globals: { ...globals.node } },
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: './tsconfig.json', conditionNames: ['@musicflow/source', 'types', 'import', 'node', 'default'] }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // Type-aware rules: a promise nobody awaits or hands to a callback that ignores it loses its rejection.
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
    },
  },
  // Detecting control characters is what the text contract and the stream rules are for.
  { files: ['packages/ingest/src/stream-rules.ts', 'packages/warehouse/src/text-contract.ts'], rules: { 'no-control-regex': 'off' } },
  // The KPI dashboard's script runs in the browser.
  { files: ['services/api/src/dashboard/*.js'], languageOptions: { globals: { ...globals.browser } } },
  upTheLayers('packages', ['services', 'apps']),
  upTheLayers('services', ['apps']),
);
