/**
 * Helpers of the native app's Chromium tests (`parloir app`, `parloir host --ui`): the app as a
 * child process with its UI's URL, its QoS logs, and the documentation screenshots (docs/img/),
 * taken of the same UI in English and French at 360 px and at desktop width by opening extra
 * pages on the same control API (every page shows the app's one state).
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { runCli, waitForOutput, type CliRun } from '../../client/test/helpers/cli.ts';
import { ROOT, newContext } from './helpers.ts';

/** Where the documentation screenshots go (committed). */
export const DOC_IMG_DIR = join(ROOT, 'docs/img');

/** A running native app and the URL of its UI (with the token). */
export interface AppRun {
  /** The child process. */
  run: CliRun;
  /** `http://127.0.0.1:PORT/#native=TOKEN`. */
  url: string;
}

/** Starts `parloir <args>` (app, or host --ui) and waits for the UI's URL. */
export async function startApp(args: string[], timeoutMs = 180_000): Promise<AppRun> {
  const run = runCli([...args, '--no-open'], timeoutMs);
  const m = await waitForOutput(
    run,
    /web UI: (http:\/\/127\.0\.0\.1:\d+\/#native=[0-9a-f]+)/,
    'stdout',
    30_000,
  );
  return { run, url: m[1] ?? '' };
}

/** Stops an app (SIGTERM: hangs up, closes its connection or server) and returns its exit code. */
export async function stopApp(app: AppRun | undefined): Promise<number | null> {
  if (app === undefined || app.run.child.exitCode !== null) return app?.run.child.exitCode ?? null;
  app.run.child.kill('SIGTERM');
  return (await app.run.done).code;
}

/** The one QoS log (calls/*.jsonl) in a profile directory, waiting for it to appear. */
export async function callLog(profile: string, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let files: string[] = [];
    try {
      files = readdirSync(join(profile, 'calls')).filter((f) => f.endsWith('.jsonl'));
    } catch {
      files = [];
    }
    const f = files.sort().at(-1);
    if (f !== undefined) return join(profile, 'calls', f);
    if (Date.now() > end) throw new Error(`no call log in ${profile}/calls`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Screenshots of the app's current screen at `url` into docs/img/<name>-<lang>-<width>.png, in
 * English and French, at 360 px and 1280 px. `ready` waits for what the shot must show (in the
 * page's language).
 */
export async function docShots(
  browser: Browser,
  url: string,
  name: string,
  ready: (page: Page, lang: 'en' | 'fr') => Promise<void>,
): Promise<string[]> {
  mkdirSync(DOC_IMG_DIR, { recursive: true });
  const out: string[] = [];
  for (const lang of ['en', 'fr'] as const) {
    for (const width of [360, 1280]) {
      const ctx = await newContext(browser, {
        locale: lang === 'fr' ? 'fr-FR' : 'en-US',
        width,
        height: width === 360 ? 740 : 800,
      });
      try {
        const page = await ctx.newPage();
        await page.goto(url);
        await ready(page, lang);
        const file = join(DOC_IMG_DIR, `${name}-${lang}-${width === 360 ? '360' : 'desktop'}.png`);
        await page.screenshot({ path: file });
        out.push(file);
      } finally {
        await ctx.close();
      }
    }
  }
  return out;
}

/** Samples of one chunk written into a microphone pipe (20 ms at 48 kHz). */
const PIPE_CHUNK = 960;

/** A microphone on a named pipe that an ALSA file-plugin capture PCM reads. */
export interface PipeMicrophone {
  /** The pipe's path (the PCM's `infile`). */
  path: string;
  /** When the speech's sample 0 was due in the pipe, Unix ms (its capture clock's origin). */
  readonly startMs: number;
  /** Stops writing and closes the pipe. */
  stop(): void;
}

/**
 * A microphone on a named pipe at `path` (as in packages/client/test/e2e/alsa-call.test.ts): the
 * `null` PCM under the file plugin keeps no time, so the pipe paces the capture. From creation it
 * writes `pcm` (then silence) 20 ms at a time on the wall clock, chunk k when its last sample is
 * due; a chunk the pipe cannot take (nobody reading yet, or a reader behind) is lost, as a
 * microphone nobody reads loses its samples, so sample i of `pcm` is always due at
 * `startMs + i / 48`.
 */
export function pipeMicrophone(path: string, pcm: Int16Array): PipeMicrophone {
  execFileSync('mkfifo', [path]);
  // Read-write, so opening never waits for a reader and a reader closing never breaks writes.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const t0 = performance.now();
  const chunkMs = (1000 * PIPE_CHUNK) / 48_000;
  let next = 0;
  const tick = (): void => {
    const due = Math.floor((performance.now() - t0) / chunkMs) - 1;
    for (; next <= due; next++) {
      const chunk = new Int16Array(PIPE_CHUNK);
      const from = next * PIPE_CHUNK;
      if (from < pcm.length) chunk.set(pcm.subarray(from, from + PIPE_CHUNK));
      try {
        writeSync(fd, new Uint8Array(chunk.buffer));
      } catch {
        // Pipe full: this chunk is lost, the clock goes on.
      }
    }
  };
  const timer = setInterval(tick, 10);
  let stopped = false;
  return {
    path,
    startMs: performance.timeOrigin + t0,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      closeSync(fd);
    },
  };
}

/**
 * Writes `<dir>/asound.conf` with one capture PCM per microphone (`file` plugin over `null`,
 * reading its pipe, with a hint so the device list shows it) and returns its path, for the
 * app's ALSA_CONFIG_PATH.
 */
export function alsaMicConfig(dir: string, mics: Record<string, string>): string {
  const lines = ['</usr/share/alsa/alsa.conf>'];
  for (const [name, fifo] of Object.entries(mics)) {
    lines.push(
      `pcm.${name} { type file slave.pcm "null" file "/dev/null" infile ${JSON.stringify(fifo)} format "raw" hint { show on description "Test microphone ${name}" } }`,
    );
  }
  const path = join(dir, 'asound.conf');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
