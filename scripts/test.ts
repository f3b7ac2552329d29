/**
 * The whole suite, as `npm test` runs it after setup: typecheck, lint, boundary check, then every
 * test file through `node --test` (its summary lines are what CI reads).
 *
 *   node scripts/test.ts                      everything
 *   node scripts/test.ts --only-tests [GLOB…] just the tests, optionally only matching files
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  options: { 'only-tests': { type: 'boolean', default: false } },
  allowPositionals: true,
});

/** Test files, as globs that `node --test` expands itself. */
const TEST_GLOBS = [
  'scripts/**/*.test.ts',
  'packages/*/src/**/*.test.ts',
  'packages/*/src/**/*.test.tsx',
  'packages/*/test/**/*.test.ts',
];

interface Step {
  name: string;
  cmd: string;
  args: string[];
}

const steps: Step[] = [];
if (!values['only-tests']) {
  steps.push({ name: 'typecheck', cmd: 'tsc', args: ['-p', 'tsconfig.json'] });
  if (existsSync(resolve(root, 'packages/web/src/main.tsx'))) {
    steps.push({ name: 'typecheck web', cmd: 'tsc', args: ['-p', 'packages/web/tsconfig.json'] });
  }
  steps.push({ name: 'lint', cmd: 'eslint', args: ['--max-warnings', '0', '.'] });
  steps.push({ name: 'format', cmd: 'prettier', args: ['--check', '--log-level', 'warn', '.'] });
  steps.push({ name: 'boundaries', cmd: process.execPath, args: ['scripts/check-boundaries.ts'] });
  if (existsSync(resolve(root, 'packages/web/vite.config.ts'))) {
    steps.push({ name: 'build web', cmd: process.execPath, args: ['scripts/build-web.ts'] });
  }
}
steps.push({
  name: 'tests',
  cmd: process.execPath,
  args: [
    '--test',
    '--test-reporter=spec',
    '--test-timeout=180000',
    // A test file whose tests are done exits even if something it spawned leaked a handle.
    '--test-force-exit',
    ...(positionals.length > 0 ? positionals : TEST_GLOBS),
  ],
});

const failed: string[] = [];
for (const step of steps) {
  console.log(`\n=== ${step.name} ===`);
  const started = performance.now();
  const r = spawnSync(step.cmd, step.args, { cwd: root, stdio: 'inherit' });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  if (r.status === 0) console.log(`--- ${step.name}: ok (${secs} s)`);
  else {
    console.log(`--- ${step.name}: FAILED (${secs} s)`);
    failed.push(step.name);
  }
}
if (failed.length > 0) {
  console.error(`\nnpm test failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log('\nnpm test: all steps passed');
