/**
 * Boundary check: the sans-IO cores (packages/media, packages/protocol, the TURN core in
 * packages/server/src/turn) must not reach for I/O.
 * They may not import sockets (node:dgram, node:net, node:tls), ws, or the native addon; media's
 * non-test code may not read clocks or set timers either (time is passed in). Model: LiveKit's
 * scripts/check-core-imports.mjs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';

/** One forbidden use found in a file. */
export interface Violation {
  /** Path relative to the repository root. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** What was found, e.g. `import of node:dgram`. */
  what: string;
}

const FORBIDDEN_MODULES = [
  'node:dgram',
  'dgram',
  'node:net',
  'net',
  'node:tls',
  'tls',
  'ws',
  '@parloir/native',
];
const IMPORT_RE =
  /(?:\bimport\s[^'"]*?from\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+|\bexport\s[^'"]*?from\s*)['"]([^'"]+)['"]/g;
const CLOCK_RE = /\b(Date\.now|performance\.now|setTimeout|setInterval|setImmediate)\s*\(/g;

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'build' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(name)) yield path;
  }
}

function isForbiddenSpecifier(spec: string): boolean {
  if (FORBIDDEN_MODULES.includes(spec)) return true;
  if (spec.startsWith('ws/')) return true;
  if (spec.endsWith('.node')) return true;
  return /(^|\/)native(\/|$)/.test(spec) && spec.startsWith('.');
}

/** Scans one file's text; `checkClocks` also forbids clock reads and timers. */
export function scanSource(file: string, text: string, checkClocks: boolean): Violation[] {
  const found: Violation[] = [];
  const lines = text.split('\n');
  lines.forEach((lineText, i) => {
    for (const m of lineText.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? '';
      if (isForbiddenSpecifier(spec)) found.push({ file, line: i + 1, what: `import of ${spec}` });
    }
    if (checkClocks) {
      for (const m of lineText.matchAll(CLOCK_RE)) {
        found.push({ file, line: i + 1, what: `${m[1] ?? 'clock'}() (time must be passed in)` });
      }
    }
  });
  return found;
}

/**
 * The IO shell of the TURN relay (sockets, the forwarding thread, timers). Every other non-test
 * file of `packages/server/src/turn` is its sans-IO core and is held to the media rules: no socket,
 * no addon, no clock. A new IO file is added here on purpose.
 */
const TURN_IO_SHELL = new Set([
  'relay.ts',
  'relay-adapter.ts',
  'native-forwarding.ts',
  'udp-sockets.ts',
  'tcp-listener.ts',
  'tcp-relay.ts',
]);

/** Checks the sans-IO packages under `root` and returns every violation. */
export function checkBoundaries(root: string): Violation[] {
  const found: Violation[] = [];
  for (const pkg of ['protocol', 'media']) {
    const dir = join(root, 'packages', pkg);
    for (const path of sourceFiles(dir)) {
      const isTest = /\.test\.tsx?$/.test(path) || path.includes('/test/');
      const rel = relative(root, path);
      found.push(...scanSource(rel, readFileSync(path, 'utf8'), pkg === 'media' && !isTest));
    }
  }
  const turn = join(root, 'packages/server/src/turn');
  if (existsSync(turn)) {
    for (const path of sourceFiles(turn)) {
      const name = basename(path);
      if (/\.test\.ts$|-test-kit\.ts$/.test(name) || TURN_IO_SHELL.has(name)) continue;
      found.push(...scanSource(relative(root, path), readFileSync(path, 'utf8'), true));
    }
  }
  return found;
}

if (import.meta.main) {
  const root = resolve(import.meta.dirname, '..');
  const violations = checkBoundaries(root);
  for (const v of violations) {
    console.error(`${v.file}:${v.line}: boundary violation: ${v.what} in a sans-IO package`);
  }
  if (violations.length > 0) {
    console.error(`boundary check failed: ${violations.length} violation(s)`);
    process.exit(1);
  }
  console.log(
    'boundary check: packages/media, packages/protocol and the TURN core are free of I/O imports',
  );
}
