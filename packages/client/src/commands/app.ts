/**
 * `parloir app`: the native app. Starts the native client with its web UI on 127.0.0.1 behind a
 * token and opens it; from the window a person types a server address (recent ones remembered)
 * and connects, or hosts a call on this machine (stage one). Audio runs in the native engine on
 * `--in`/`--out`. The server options apply to the server started when hosting.
 */
import type { Command } from '../command.ts';
import { stringOpt } from '../command.ts';
import { runAppUi } from '../control/app-runner.ts';
import { NativeApp } from '../control/native-app.ts';
import { defaultProfileDir } from '../signaling/profile.ts';
import {
  configuredArgs,
  SERVER_CLI_OPTIONS,
  SERVER_CLI_USAGE,
  serverOptionsFromArgs,
} from '../signaling/run-server.ts';

export const command: Command = {
  usage: `Usage: parloir app [--in DEV] [--out DEV] [--profile DIR] [--no-open] [server options]

Starts the native app and opens its window (Chromium's app window, else xdg-open; without a
display the URL is printed). In the window: type a server's address and connect, or choose
"Host a call on this machine" and accept or refuse the people who ask to join.

Options:
  --in DEV / --out DEV   capture and playback (alsa:NAME, wav:FILE, null; default alsa:default)
  --profile DIR          profile directory (identity, pinned servers, remembered decisions)
  --control-port N       port of the UI and control API on 127.0.0.1 (default: a free one)
  --no-open              print the URL only
  --relay                relay-only ICE for calls
  --host-address IP      offer only this local address as ICE host candidate
Server options, used when hosting from the window:
${SERVER_CLI_USAGE}`,
  options: {
    ...SERVER_CLI_OPTIONS,
    in: { type: 'string', default: 'alsa:default' },
    out: { type: 'string', default: 'alsa:default' },
    profile: { type: 'string' },
    'control-port': { type: 'string' },
    'no-open': { type: 'boolean' },
    relay: { type: 'boolean' },
    'host-address': { type: 'string' },
  },
  allowPositionals: false,
  async run(args) {
    const print = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    const profileDir = stringOpt(args, 'profile') ?? defaultProfileDir();
    const hostAddress = stringOpt(args, 'host-address');
    const serverArgs = configuredArgs(args);
    const app = new NativeApp({
      profileDir,
      input: stringOpt(args, 'in') ?? 'alsa:default',
      output: stringOpt(args, 'out') ?? 'alsa:default',
      canConnect: true,
      // Hosting from the window: a plain host-mode server (no TURN relay; guests on the LAN).
      hostServer: serverOptionsFromArgs(serverArgs),
      hostAddresses: hostAddress === undefined ? undefined : [hostAddress],
      relayOnly: args.values.relay === true,
      onNotice: (m) => print(`* ${m}`),
    });
    const port = stringOpt(args, 'control-port');
    return runAppUi({
      app,
      profileDir,
      controlPort: port === undefined ? undefined : Number(port),
      open: args.values['no-open'] !== true,
      print,
    });
  },
};
