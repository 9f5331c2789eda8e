import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const ESLINT = path.join(ROOT, 'node_modules', '.bin', 'eslint');

interface LintResult {
  messages: Array<{ ruleId: string | null; message: string }>;
}

// ESLint runs as the CLI does: its flat config loads through a dynamic import that Jest's sandbox lacks.
function lint(args: string[], stdin?: string): LintResult[] {
  const run = spawnSync(ESLINT, ['--format', 'json', ...args], { cwd: ROOT, input: stdin, encoding: 'utf8' });
  return JSON.parse(run.stdout);
}

async function ruleIdsFor(file: string, source: string): Promise<string[]> {
  const [result] = lint(['--stdin', '--stdin-filename', file], source);
  return result.messages.map((message) => message.ruleId ?? message.message);
}

const nonDeterministic = [
  "import { readFileSync } from 'node:fs';",
  "import { createActivities } from '../activities';",
  'export const a = readFileSync;',
  'export const b = createActivities;',
  'export const c = Math.random();',
  'export const d = new Date();',
  'export const e = process.env.X;',
].join('\n');

test('the linter refuses Node built-ins, activity code and non-deterministic calls in workflows', async () => {
  expect(await ruleIdsFor('src/workflows/example.ts', nonDeterministic)).toEqual([
    'no-restricted-imports',
    'no-restricted-imports',
    'no-restricted-syntax',
    'no-restricted-syntax',
    'no-restricted-globals',
  ]);
});

test('the same code outside the workflows folder is allowed', async () => {
  expect(await ruleIdsFor('src/services/example.ts', nonDeterministic)).toEqual([]);
});

test('the workflow code as written passes the linter', async () => {
  const results = lint(['src/workflows']);
  expect(results.flatMap((result) => result.messages)).toEqual([]);
});
