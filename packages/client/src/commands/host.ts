/**
 * `parloir host --user NAME [--accept-all]`: a server with one local participant, the host, who
 * approves or refuses every other connection. Logic: ../signaling/host-mode.ts. With `--ui` the
 * host does it in the native app's window (control/native-app.ts): requests with name, address
 * and key fingerprint, accept or refuse (remembered if asked), calls both ways, hang up.
 */
import type { Command } from '../command.ts';
import { stringOpt } from '../command.ts';
import {
  announce,
  configuredArgs,
  relayFromArgs,
  SERVER_CLI_OPTIONS,
  SERVER_CLI_USAGE,
  serverOptionsFromArgs,
  untilSignal,
} from '../signaling/run-server.ts';
import { approveFromTerminal, startHost } from '../signaling/host-mode.ts';
import { attachHostAudio } from '../engine/host-audio.ts';
import { runAppUi } from '../control/app-runner.ts';
import { NativeApp } from '../control/native-app.ts';
import { defaultProfileDir } from '../signaling/profile.ts';

export const command: Command = {
  usage: `Usage: parloir host --user NAME [--accept-all] [--profile DIR] [server options]

Runs a server in host mode: NAME is the host; everyone else appears as a join request
(name, key fingerprint, address) to accept ("a ID") or refuse ("r ID") on stdin.

Options:
  --user NAME                 the host's display name (required)
  --ui                        the host's window instead of stdin: requests, accept/refuse,
                              remembered decisions, calls; prints "web UI: URL" and opens it
  --control-port N            port of the UI and control API on 127.0.0.1 (with --ui)
  --no-open                   print the UI's URL only (with --ui)
  --accept-all                accept every connection (scripts)
  --profile DIR               profile directory with the host's key (default ~/.config/parloir)
  --in DEV / --out DEV        the host's capture and playback (alsa:NAME, wav:FILE, null;
                              default alsa:default); calls from approved guests are answered
  --host-address IP           offer only this local address as ICE host candidate
${SERVER_CLI_USAGE}`,
  options: {
    ...SERVER_CLI_OPTIONS,
    user: { type: 'string' },
    'accept-all': { type: 'boolean' },
    profile: { type: 'string' },
    in: { type: 'string', default: 'alsa:default' },
    out: { type: 'string', default: 'alsa:default' },
    'host-address': { type: 'string' },
    ui: { type: 'boolean' },
    'control-port': { type: 'string' },
    'no-open': { type: 'boolean' },
  },
  allowPositionals: false,
  async run(args) {
    const user = stringOpt(args, 'user', true);
    const profileDir = stringOpt(args, 'profile');
    const serverArgs = configuredArgs(args);
    const turn = await relayFromArgs(serverArgs, serverOptionsFromArgs(serverArgs));
    if (args.values.ui === true) {
      const hostAddress = stringOpt(args, 'host-address');
      const profile = profileDir ?? defaultProfileDir();
      const print = (line: string): void => {
        process.stdout.write(`${line}\n`);
      };
      const app = new NativeApp({
        profileDir: profile,
        input: stringOpt(args, 'in') ?? 'alsa:default',
        output: stringOpt(args, 'out') ?? 'alsa:default',
        canConnect: false,
        hostServer: turn.serverOptions,
        onHostServer: (server) => {
          turn.attach(server);
          announce(server, 'host');
        },
        hostAddresses: hostAddress === undefined ? undefined : [hostAddress],
        onNotice: (m) => print(`* ${m}`),
      });
      try {
        await app.startHosting({ name: user });
      } catch (err) {
        await turn.close();
        throw err;
      }
      const port = stringOpt(args, 'control-port');
      return runAppUi({
        app,
        profileDir: profile,
        controlPort: port === undefined ? undefined : Number(port),
        open: args.values['no-open'] !== true,
        print,
        onClose: () => turn.close(),
      });
    }
    const host = await startHost({
      user,
      acceptAll: args.values['accept-all'] === true,
      server: turn.serverOptions,
      ...(profileDir !== undefined ? { profileDir } : {}),
    }).catch(async (err: unknown) => {
      await turn.close();
      throw err;
    });
    turn.attach(host.server);
    announce(host.server, 'host');
    console.log(`host "${user}" is online (user id ${host.client.session.userId ?? '?'})`);
    const stop =
      args.values['accept-all'] === true ? () => undefined : approveFromTerminal(host.client);
    const hostAddress = stringOpt(args, 'host-address');
    const stopAudio = attachHostAudio({
      client: host.client,
      input: stringOpt(args, 'in') ?? 'alsa:default',
      output: stringOpt(args, 'out') ?? 'alsa:default',
      profileDir,
      hostAddresses: hostAddress === undefined ? undefined : [hostAddress],
    });
    return untilSignal(async () => {
      stop();
      await stopAudio();
      await host.close();
      await turn.close();
    });
  },
};
