/**
 * What `parloir app` and `parloir host --ui` share once their {@link NativeApp} exists: the
 * control API with the built web UI on 127.0.0.1, the UI's URL printed (`web UI: URL`) and
 * opened where a display exists, and a clean stop on SIGINT/SIGTERM (hang up, close the
 * connection or the hosted server, close the control API).
 */
import { untilSignal } from '../signaling/run-server.ts';
import { ControlServer } from './control-server.ts';
import type { NativeApp } from './native-app.ts';
import { builtUiDir, openUi } from './open-ui.ts';

/** Options of {@link runAppUi}. */
export interface AppUiOptions {
  /** The app. */
  app: NativeApp;
  /** Profile directory (`control.json` goes there). */
  profileDir: string;
  /** Port of the control API on 127.0.0.1 (default: a free one). */
  controlPort?: number | undefined;
  /** Whether to open the UI (Chromium app window or xdg-open) where a display exists. */
  open: boolean;
  /** Output lines. */
  print: (line: string) => void;
  /** Also run at the stop, after the app closed (e.g. the TURN relay). */
  onClose?: () => Promise<void>;
}

/** Serves the UI and the control API until a signal; resolves to the exit status. */
export async function runAppUi(o: AppUiOptions): Promise<number> {
  const uiDir = builtUiDir();
  if (uiDir === undefined) o.print('* no built web UI in packages/web/dist (run npm run setup)');
  const control = new ControlServer({
    app: o.app,
    profileDir: o.profileDir,
    uiDir,
    ...(o.controlPort === undefined ? {} : { port: o.controlPort }),
  });
  const info = await control.listen();
  o.print(`* control API on ${info.url} (token in ${o.profileDir}/control.json)`);
  // The page takes the token from the URL fragment (never sent to any server).
  const url = `${info.url}/#native=${info.token}`;
  if (uiDir !== undefined) {
    o.print(`* web UI: ${url}`);
    const how = o.open ? openUi(url) : undefined;
    if (how !== undefined) o.print(`* opened with ${how}`);
    else if (o.open) o.print('* no display: open the URL above in a browser on this machine');
  }
  return untilSignal(async () => {
    await o.app.close();
    await control.close();
    await o.onClose?.();
  });
}
