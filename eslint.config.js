// Lint: the recommended rules of eslint and typescript-eslint, plus the few that
// catch real bugs in async server code (floating promises are checked by tsc-strict
// discipline and code review; the type-aware rule set is too slow for every run).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-control-regex': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      eqeqeq: ['error', 'smart'],
    },
  },
  // Layering (DESIGN.md, issue 15 item 8): the protocol engines reach mail and accounts
  // only through the store and accounts interfaces, never a store implementation (Maildir, memory),
  // the database or SQLite; quota decides, and SMTP (under src/smtp/) speaks it.
  {
    files: ['src/{imap,pop3,smtp,managesieve}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'better-sqlite3', message: 'Protocol engines never touch SQL: go through the store or accounts interfaces.' }],
          patterns: [
            { regex: '(^|/)store/(maildir|memory)(/|$)', message: 'Protocol engines use the store interface (src/store/types.ts, createStore), not an implementation of it.' },
            { regex: '(^|/)db(/|$)', message: 'Protocol engines never touch SQL: go through the store or accounts interfaces.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/quota/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)smtp(/|$)', message: 'Quota must not depend on SMTP: the SMTP side (src/smtp/) calls quota.' }] }],
    },
  },
);
