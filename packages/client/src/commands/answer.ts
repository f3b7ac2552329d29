/**
 * `parloir answer`: waits for a call, accepts it (from anyone with --accept-all, or only from
 * --accept-from PEER; others are refused), talks, and prints a QoS summary.
 */
import { sanitizeForTerminal } from '@parloir/protocol';
import type { Command } from '../command.ts';
import { stringOpt } from '../command.ts';
import { NativeClient } from '../engine/native-client.ts';
import { UsageError } from '../errors.ts';
import { CALL_OPTIONS, clientOptionsFromArgs, durationMs, talkAndReport } from './call.ts';

export const command: Command = {
  usage: `Usage: parloir answer --server URL --user NAME (--accept-from PEER | --accept-all) [options]

Waits for a call and accepts it; calls from anyone else are refused. Then talks until the peer
hangs up, --duration passes, or Ctrl-C, and prints a QoS summary.

  --accept-from PEER  accept only PEER's call
  --accept-all        accept the first call from anyone
  --wait S            give up (exit 1) if no call within S seconds (default: wait forever)
  (other options as in parloir call: --in, --out, --duration, --relay, --bitrate, --frame-ms,
   --no-adapt, --profile, --password, --json, --host-address)`,
  options: {
    ...CALL_OPTIONS,
    'accept-from': { type: 'string' },
    'accept-all': { type: 'boolean', default: false },
    wait: { type: 'string' },
  },
  allowPositionals: false,
  async run(args) {
    const user = stringOpt(args, 'user', true);
    const from = stringOpt(args, 'accept-from');
    const all = args.values['accept-all'] === true;
    if ((from === undefined) === !all) {
      throw new UsageError(
        'CLI_ERR_MISSING_ARG',
        'parloir answer: give --accept-from PEER or --accept-all',
      );
    }
    const duration = durationMs(stringOpt(args, 'duration'));
    const waitMs = durationMs(stringOpt(args, 'wait'));
    const json = args.values.json === true;
    const client = await NativeClient.open(
      clientOptionsFromArgs(args, (m) => console.error(`parloir: ${m}`)),
    );
    try {
      console.error(`${user} is waiting for a call…`);
      const peer = await new Promise<string | undefined>((resolve) => {
        const timer =
          waitMs === undefined
            ? undefined
            : setTimeout(() => {
                off();
                resolve(undefined);
              }, waitMs);
        const off = client.session.on('incomingCall', ({ from: caller }) => {
          if (all || caller.name === from) {
            clearTimeout(timer);
            off();
            client.session.accept().then(
              () => resolve(caller.name),
              () => {
                // The caller gave up meanwhile: keep waiting.
              },
            );
          } else {
            console.error(`refusing a call from ${sanitizeForTerminal(caller.name)}`);
            client.session.reject().catch(() => {});
          }
        });
      });
      if (peer === undefined) {
        console.error('parloir answer: no call came');
        return 1;
      }
      return await talkAndReport(client, peer, duration, json);
    } finally {
      await client.close();
    }
  },
};
