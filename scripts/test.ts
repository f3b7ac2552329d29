/**
 * The whole suite, as `npm test` runs it after setup: typecheck, lint, boundary check, then every
 * test file through `node --test` (its summary lines are what CI reads).
 *
 *   node scripts/test.ts                      everything
 *   node scripts/test.ts --only-tests [GLOB…] just the tests, optionally only matching files
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  globSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

/**
 * Test files that run in a second lane, beside the others, at a lower CPU priority: long and
 * mostly waiting (the soak test's 2 minutes of calls), or short and bounded by its own time
 * budget (the fuzz harnesses' 4 s each). Run one after the other, they added about 3 minutes to
 * the suite; beside it they fit under its length. Their checks do not depend on timing (no call
 * drops, memory and descriptors flat, chat acknowledged; no crash, code reached).
 */
const BESIDE = ['packages/client/test/soak/soak.test.ts', 'scripts/fuzz.test.ts'];

const NODE_TEST = [
  '--test',
  '--test-reporter=spec',
  '--test-timeout=180000',
  // A test file whose tests are done exits even if something it spawned leaked a handle.
  '--test-force-exit',
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
// Given files: all in one lane. Otherwise every test file, with BESIDE in a second lane.
const beside = positionals.length > 0 ? [] : BESIDE.filter((f) => existsSync(resolve(root, f)));
const mainFiles =
  positionals.length > 0
    ? positionals
    : globSync(TEST_GLOBS, { cwd: root })
        .filter((f) => !beside.includes(f))
        .sort();
steps.push({ name: 'tests', cmd: process.execPath, args: [...NODE_TEST, ...mainFiles] });

/** The second lane, started with the tests step; its output is printed when both are done. */
function startBeside(): { done: Promise<number | null>; output: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-tests-beside-'));
  const output = join(dir, 'out.txt');
  const fd = openSync(output, 'w');
  const child = spawn('nice', ['-n', '5', process.execPath, ...NODE_TEST, ...beside], {
    cwd: root,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const done = new Promise<number | null>((r) => {
    child.on('exit', (code) => r(code));
    child.on('error', () => r(1));
  });
  return { done, output, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const failed: string[] = [];
for (const step of steps) {
  console.log(`\n=== ${step.name} ===`);
  const started = performance.now();
  const lane = step.name === 'tests' && beside.length > 0 ? startBeside() : undefined;
  const r = spawnSync(step.cmd, step.args, { cwd: root, stdio: 'inherit' });
  let ok = r.status === 0;
  if (lane !== undefined) {
    const code = await lane.done;
    console.log(`\n=== tests beside (${beside.join(', ')}; ran alongside the others) ===`);
    process.stdout.write(readFileSync(lane.output, 'utf8'));
    lane.cleanup();
    ok &&= code === 0;
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  if (ok) console.log(`--- ${step.name}: ok (${secs} s)`);
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
