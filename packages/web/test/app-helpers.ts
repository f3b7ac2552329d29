/**
 * Helpers of the native app's Chromium tests (`parloir app`, `parloir host --ui`): the app as a
 * child process with its UI's URL, its QoS logs, and the documentation screenshots (docs/img/),
 * taken of the same UI in English and French at 360 px and at desktop width by opening extra
 * pages on the same control API (every page shows the app's one state).
 */
import { mkdirSync, readdirSync } from 'node:fs';
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
