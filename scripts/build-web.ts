/**
 * Builds the web UI (packages/web) with Vite into packages/web/dist, unless nothing changed: the
 * build is skipped when a SHA-256 over the UI's sources and the packages it imports
 * (packages/protocol/src, packages/media/src) matches the stamp left by the last build. Prints the
 * gzipped size of the built JS, which must stay under the 300 KB budget.
 *
 *   node scripts/build-web.ts           build if needed
 *   node scripts/build-web.ts --force   always build
 *   node scripts/build-web.ts --json    print {built, jsBytes, jsGzipBytes, cssGzipBytes} as JSON
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const root = resolve(import.meta.dirname, '..');
const webDir = join(root, 'packages/web');
const distDir = join(webDir, 'dist');
const stampFile = join(distDir, '.build-stamp');

/** Gzipped JS budget of the built UI, in bytes (300 KB). */
export const JS_GZIP_BUDGET_BYTES = 300 * 1024;

/** Inputs of the build: everything under these, minus outputs and tests. */
const INPUTS = [
  'packages/web/src',
  'packages/web/public',
  'packages/web/index.html',
  'packages/web/vite.config.ts',
  'packages/web/package.json',
  'packages/protocol/src',
  'packages/media/src',
];

function* files(path: string): Generator<string> {
  if (!existsSync(path)) return;
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) {
      if (name === 'node_modules' || name === 'dist') continue;
      yield* files(join(path, name));
    }
  } else if (!/\.test\.tsx?$/.test(path)) {
    yield path;
  }
}

/** SHA-256 over the relative paths and contents of every build input. */
export function sourceHash(): string {
  const h = createHash('sha256');
  for (const input of INPUTS) {
    for (const f of files(join(root, input))) {
      h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
    }
  }
  return h.digest('hex');
}

/** Sizes of the built assets, in bytes. */
export function distSizes(): { jsBytes: number; jsGzipBytes: number; cssGzipBytes: number } {
  let jsBytes = 0;
  let jsGzipBytes = 0;
  let cssGzipBytes = 0;
  for (const f of files(distDir)) {
    const data = readFileSync(f);
    if (f.endsWith('.js')) {
      jsBytes += data.length;
      jsGzipBytes += gzipSync(data, { level: 9 }).length;
    } else if (f.endsWith('.css')) {
      cssGzipBytes += gzipSync(data, { level: 9 }).length;
    }
  }
  return { jsBytes, jsGzipBytes, cssGzipBytes };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const hash = sourceHash();
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  let built = false;
  if (values.force || stamp !== hash || !existsSync(join(distDir, 'index.html'))) {
    const { build } = await import('vite');
    await build({
      configFile: join(webDir, 'vite.config.ts'),
      logLevel: values.json ? 'silent' : 'warn',
    });
    writeFileSync(stampFile, `${hash}\n`);
    built = true;
  }
  const sizes = distSizes();
  if (values.json) {
    console.log(JSON.stringify({ built, ...sizes }));
  } else {
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
    console.log(
      `web UI ${built ? 'built' : 'up to date (build skipped)'}: JS ${kb(sizes.jsBytes)}, ` +
        `${kb(sizes.jsGzipBytes)} gzipped (budget ${kb(JS_GZIP_BUDGET_BYTES)}); ` +
        `CSS ${kb(sizes.cssGzipBytes)} gzipped`,
    );
  }
  if (sizes.jsGzipBytes > JS_GZIP_BUDGET_BYTES) {
    console.error(`web UI: gzipped JS exceeds the ${JS_GZIP_BUDGET_BYTES}-byte budget`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error('build-web: build failed:', err);
      process.exitCode = 1;
    },
  );
}
