/**
 * Where the built web UI is, and how the native app shows it: in Chromium's `--app` window when
 * Chromium is installed, else with `xdg-open`, and only where a display exists; without one (a
 * server, ssh) the URL is printed for a browser on this machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The built web UI (packages/web/dist), or undefined when it was not built. */
export function builtUiDir(): string | undefined {
  const dir = resolve(import.meta.dirname, '../../../web/dist');
  return existsSync(resolve(dir, 'index.html')) ? dir : undefined;
}

/** Whether a graphical display is reachable (X11 or Wayland). */
export function hasDisplay(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.DISPLAY ?? '') !== '' || (env.WAYLAND_DISPLAY ?? '') !== '';
}

/** Chromium binaries looked for, in order. */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/**
 * Opens `url` for the user: Chromium's app window, or xdg-open. Returns how, or undefined when
 * there is no display (the caller prints the URL). The child is detached: closing the window
 * does not stop the app, and stopping the app does not close the window.
 */
export function openUi(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!hasDisplay(env)) return undefined;
  const chromium = CHROMIUM.find((p) => existsSync(p));
  const [cmd, args] = chromium !== undefined ? [chromium, [`--app=${url}`]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    return undefined;
  }
  return chromium !== undefined ? `${chromium} --app` : 'xdg-open';
}
