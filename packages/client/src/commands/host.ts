/**
 * `parloir host --user NAME [--accept-all]`: a server with one local participant, the host, who
 * approves or refuses every other connection. Logic: ../signaling/host-mode.ts.
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

export const command: Command = {
  usage: `Usage: parloir host --user NAME [--accept-all] [--profile DIR] [server options]

Runs a server in host mode: NAME is the host; everyone else appears as a join request
(name, key fingerprint, address) to accept ("a ID") or refuse ("r ID") on stdin.

Options:
  --user NAME                 the host's display name (required)
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
  },
  allowPositionals: false,
  async run(args) {
    const user = stringOpt(args, 'user', true);
    const profileDir = stringOpt(args, 'profile');
    const serverArgs = configuredArgs(args);
    const turn = await relayFromArgs(serverArgs, serverOptionsFromArgs(serverArgs));
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
