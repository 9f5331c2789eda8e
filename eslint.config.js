const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');
const globals = require('globals');

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['*.js', 'scripts/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', console: 'readonly', process: 'readonly' },
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard's own script runs in the browser, as a classic script.
    files: ['public/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.browser },
  },
  {
    // Workflow code is replayed: it must be deterministic and free of I/O.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows cannot use Node built-ins; do I/O in an activity.' })),
          patterns: [
            {
              group: ['../activities', '../activities/*', '../db/*', '../services/*', '../api/*', 'pg', 'express'],
              allowTypeImports: true,
              message: 'Workflows import only the types of activities and no I/O modules.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflows cannot read the process environment.' },
        { name: 'fetch', message: 'Workflows cannot do I/O; use an activity.' },
        { name: 'crypto', message: 'Use uuid4() from @temporalio/workflow.' },
        { name: 'performance', message: 'Use the workflow clock (Date.now) only.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Use uuid4() or deterministic values in workflows.' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use Date.now() from the workflow clock explicitly.' },
        { selector: "CallExpression[callee.name='setInterval']", message: 'Use sleep() or condition() in workflows.' },
      ],
    },
  },
);
