/**
 * Shared helpers of the web UI's Chromium tests: speech WAVs made at test time (espeak-ng + sox),
 * Debian's Chromium launched through playwright-core with a fake microphone fed by one WAV per
 * browser instance, a real `parloir server` child process serving the built UI, and page helpers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createSocket as createUdpSocket } from 'node:dgram';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { t, type Lang } from '../src/i18n.ts';
import { installRecorder } from './audio-recorder.ts';

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, '../../..');
/** Where screenshots go (gitignored). */
export const SCREENSHOT_DIR = join(ROOT, '.artifacts/screenshots');
/** Debian's Chromium; never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** A temporary directory removed by {@link cleanup}. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `parloir-web-${prefix}-`));
}

/** Makes a 48 kHz mono 16-bit WAV of `text` spoken by espeak-ng; returns its path. */
export function speechWav(dir: string, name: string, text: string, voice = 'en'): string {
  const raw = join(dir, `${name}-raw.wav`);
  const out = join(dir, `${name}.wav`);
  const e = spawnSync('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text], { stdio: 'pipe' });
  if (e.status !== 0) throw new Error(`espeak-ng failed: ${e.stderr.toString()}`);
  const s = spawnSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', out], { stdio: 'pipe' });
  if (s.status !== 0) throw new Error(`sox failed: ${s.stderr.toString()}`);
  return out;
}

/** Launches Chromium with a fake microphone playing `wavPath` in a loop. */
export function launchChromium(wavPath?: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      ...(wavPath !== undefined ? [`--use-file-for-fake-audio-capture=${wavPath}`] : []),
    ],
  });
}

/**
 * A new context in English (or `locale`) with microphone permission. With `recorder`, the audio
 * taps of audio-recorder.ts are installed; their Blob-URL worklet needs the page's CSP bypassed,
 * so CSP itself is checked elsewhere (server http-security tests).
 */
export async function newContext(
  browser: Browser,
  opts: {
    locale?: string;
    width?: number;
    height?: number;
    colorScheme?: 'light' | 'dark';
    recorder?: boolean;
  } = {},
): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    bypassCSP: opts.recorder === true,
    locale: opts.locale ?? 'en-US',
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 860 },
    colorScheme: opts.colorScheme ?? 'light',
    permissions: ['microphone'],
  });
  ctx.setDefaultTimeout(15_000);
  if (opts.recorder === true) await installRecorder(ctx);
  return ctx;
}

/** A running server child process. */
export interface ServerHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** host:port for the [Server] field. */
  hostPort: string;
  /** Everything the server printed. */
  output: string[];
  /** The child process. */
  child: ChildProcess;
  /** Stops it (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
}

/**
 * Starts `parloir server --port 0 --insecure-http` (plus `extra` flags; a `--port` there wins) as a child process and
 * waits for the line that prints its URL.
 */
export async function startServer(
  dataDir: string,
  extra: string[] = [],
  command = 'server',
): Promise<ServerHandle> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'packages/client/src/cli.ts'),
      command,
      '--bind',
      '127.0.0.1',
      ...(extra.includes('--port') ? [] : ['--port', '0']),
      // The built-in TURN relay defaults to port 3478; tests take any free port.
      ...(extra.includes('--turn-port') || extra.includes('--no-turn') ? [] : ['--turn-port', '0']),
      '--insecure-http',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      ...extra,
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not print its URL:\n${output.join('\n')}`)),
      15_000,
    );
    const onLine = (line: string) => {
      output.push(line);
      // "parloir server listening url=ws://127.0.0.1:PORT/ws port=PORT fingerprint=…"
      const m = /listening url=(wss?):\/\/([^/\s]+)/.exec(line);
      if (m?.[2] !== undefined) {
        clearTimeout(timer);
        resolveUrl(`${m[1] === 'wss' ? 'https' : 'http'}://${m[2]}`);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}):\n${output.join('\n')}`));
    });
  });
  return {
    url,
    hostPort: url.replace(/^https?:\/\//, ''),
    output,
    child,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(kill);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Opens the UI and connects as `name`; unless `waitForPeople` is false, waits for the list. */
export async function connectAs(
  page: Page,
  server: { url: string; hostPort: string },
  name: string,
  opts: { lang?: Lang; waitForPeople?: boolean; password?: string } = {},
): Promise<void> {
  const lang = opts.lang ?? 'en';
  await page.goto(server.url);
  await page.getByLabel(t(lang, 'server'), { exact: true }).fill(server.hostPort);
  await page.getByLabel(t(lang, 'name'), { exact: true }).fill(name);
  if (opts.password !== undefined)
    await page.getByLabel(t(lang, 'password'), { exact: true }).fill(opts.password);
  await page.getByRole('button', { name: t(lang, 'connect'), exact: true }).click();
  if (opts.waitForPeople !== false)
    await page.getByRole('region', { name: t(lang, 'people') }).waitFor({ timeout: 15_000 });
}

/** The live media counters the browser backend exposes (see `window.parloirDebug`). */
export interface MediaCounters {
  bytesSent: number;
  bytesReceived: number;
  packetsReceived: number;
  polls: number;
  /** Wall-clock time of the poll these counters come from, ms since the epoch. */
  atMs: number;
  path?: string;
}

/** Reads the page's media counters. */
export function mediaCounters(page: Page): Promise<MediaCounters | null> {
  return page.evaluate(() => {
    const d = window.parloirDebug;
    if (d?.lastStats == null) return null;
    return {
      bytesSent: d.lastStats.bytesSent,
      bytesReceived: d.lastStats.bytesReceived,
      packetsReceived: d.lastStats.packetsReceived,
      polls: d.polls,
      atMs: d.lastStats.sample.t * 1000,
      ...(d.lastStats.path !== undefined ? { path: d.lastStats.path } : {}),
    };
  });
}

/** Waits until the page has polled getStats() and received audio; returns the counters. */
export async function waitForMedia(page: Page, timeoutMs = 10_000): Promise<MediaCounters> {
  await page
    .waitForFunction(
      () => {
        const d = window.parloirDebug;
        return d !== undefined && d.polls >= 1 && (d.lastStats?.bytesReceived ?? 0) > 0;
      },
      undefined,
      { timeout: timeoutMs, polling: 100 },
    )
    .catch(() => {
      throw new Error(`no media counters after ${timeoutMs} ms`);
    });
  const c = await mediaCounters(page);
  if (c === null) throw new Error('media counters vanished');
  return c;
}

/**
 * Waits until the page has polled getStats() `n` more times after `from` (it polls once a
 * second); returns the counters then.
 */
export async function waitForPolls(
  page: Page,
  from: MediaCounters,
  n: number,
  timeoutMs = 5_000 + n * 2_000,
): Promise<MediaCounters> {
  await page.waitForFunction((want) => (window.parloirDebug?.polls ?? 0) >= want, from.polls + n, {
    timeout: timeoutMs,
    polling: 100,
  });
  const c = await mediaCounters(page);
  if (c === null) throw new Error('media counters vanished');
  return c;
}

/** Rates between two counter readings, divided by the measured interval between their polls. */
export function rates(
  a: MediaCounters,
  b: MediaCounters,
): { receivedKbps: number; sentKbps: number; packetsPerS: number; intervalMs: number } {
  const ms = b.atMs - a.atMs;
  if (!(ms > 0)) throw new Error(`no interval between polls (${a.atMs} → ${b.atMs})`);
  return {
    receivedKbps: ((b.bytesReceived - a.bytesReceived) * 8) / ms,
    sentKbps: ((b.bytesSent - a.bytesSent) * 8) / ms,
    packetsPerS: ((b.packetsReceived - a.packetsReceived) * 1000) / ms,
    intervalMs: ms,
  };
}

/** Saves a full-page screenshot as `.artifacts/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * A port free for both TCP and UDP on 127.0.0.1, outside the ephemeral range (32768-60999 here),
 * for a server restarted on the same ports: an ephemeral port may be taken by another process's
 * socket between the kill and the restart (a TURN relay needs UDP and TCP on it).
 */
export async function freeFixedPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const tcp = createNetServer();
    const tcpOk = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => r(true));
    });
    if (!tcpOk) continue;
    const udp = createUdpSocket('udp4');
    const udpOk = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    if (udpOk) await new Promise<void>((r) => udp.close(() => r()));
    if (udpOk) return port;
  }
  throw new Error('no port free for TCP and UDP in 20000-31999');
}

/** Removes temporary directories, ignoring errors. */
export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
