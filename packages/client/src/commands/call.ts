/**
 * `parloir call`: calls someone through a server, waits for the answer, talks, hangs up, then
 * prints a QoS summary. Refused, busy, unanswered or offline: exits 1 with the reason.
 */
import type { ClientSession, ClientSessionEvents } from '@parloir/protocol';
import type { Command, ParsedArgs } from '../command.ts';
import { stringOpt } from '../command.ts';
import {
  NativeClient,
  callEndError,
  callSummary,
  formatSummary,
  settingsFromFlags,
  type NativeClientOptions,
} from '../engine/native-client.ts';
import { EngineError } from '../engine/errors.ts';

/** Options shared by `call` and `answer`. */
export const CALL_OPTIONS = {
  server: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  profile: { type: 'string' },
  in: { type: 'string', default: 'alsa:default' },
  out: { type: 'string', default: 'alsa:default' },
  duration: { type: 'string' },
  relay: { type: 'boolean', default: false },
  bitrate: { type: 'string' },
  'frame-ms': { type: 'string' },
  'no-adapt': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'host-address': { type: 'string', multiple: true },
  aec: { type: 'string' },
  ns: { type: 'string' },
  agc: { type: 'string' },
  'audio-engine': { type: 'string' },
  'acoustic-room': { type: 'string' },
} as const;

/** `--duration S` in ms, or undefined. */
export function durationMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v.replace(/s$/, ''));
  if (!Number.isFinite(s) || s <= 0 || s > 86_400) {
    throw new EngineError('ENGINE_ERR_BAD_SETTING', `--duration: expected seconds, got '${v}'`);
  }
  return s * 1000;
}

/** `--acoustic-room MS` (tests), ms, or undefined. */
export function acousticRoomMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = Number(v.replace(/ms$/, ''));
  if (v.trim() === '' || !Number.isFinite(ms) || ms < 20 || ms > 250) {
    throw new EngineError(
      'ENGINE_ERR_BAD_SETTING',
      `--acoustic-room: expected 20..250 ms, got '${v}'`,
    );
  }
  return ms;
}

/** `--host-address` (repeatable) as the transport's host address list. */
export function hostAddresses(values: Record<string, unknown>): string[] | undefined {
  const v = values['host-address'];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0) return v.filter((a): a is string => typeof a === 'string');
  return undefined;
}

/** The {@link NativeClient} options that `call`, `answer` and `connect` take from their flags. */
export function clientOptionsFromArgs(
  args: ParsedArgs,
  onNotice: (message: string) => void,
): NativeClientOptions {
  return {
    server: stringOpt(args, 'server', true),
    user: stringOpt(args, 'user', true),
    password: stringOpt(args, 'password'),
    profileDir: stringOpt(args, 'profile'),
    input: stringOpt(args, 'in') ?? 'alsa:default',
    output: stringOpt(args, 'out') ?? 'alsa:default',
    relayOnly: args.values.relay === true,
    settings: settingsFromFlags(args.values),
    hostAddresses: hostAddresses(args.values),
    acousticRoomMs: acousticRoomMs(stringOpt(args, 'acoustic-room')),
    onNotice,
  };
}

/**
 * Once a call is accepted: waits for the media path, prints the path and verification code,
 * talks for `durationMs` (or until hang-up), then prints the QoS summary. Resolves to exit 0.
 */
export async function talkAndReport(
  client: NativeClient,
  peer: string,
  durationMs: number | undefined,
  json: boolean,
): Promise<number> {
  const up = await client.waitMediaUp(30_000);
  console.error(
    `connected to ${peer} (${up.path ?? 'path unknown'}); verification code: ${up.sas?.words ?? 'n/a'} (${up.sas?.digits ?? ''})`,
  );
  if (up.sendPath !== undefined) {
    console.error(`  media path: send ${up.sendPath}, receive ${up.receivePath ?? 'unknown'}`);
  }
  if (up.pinnedNow === true) {
    console.error(
      `  first call with ${peer}: their key is now pinned; read the verification code to each other once`,
    );
  }
  // The peer's signalling dropped mid-call (issue 21 §1): the server keeps the call a while.
  const offs = [
    client.session.on('peerReconnecting', (e) =>
      console.error(
        `${peer} is reconnecting… (the call is kept for ${Math.round(e.graceMs / 1000)} s)`,
      ),
    ),
    client.session.on('peerReconnected', () => console.error(`${peer} is back`)),
    // ICE restarts (issue 21 §2, §5): the path failed, an address went away, or we re-attached.
    client.media.on('path', (e) => {
      if (e.state === 'restarting') console.error(`restarting the path… (${e.reason})`);
      else if (e.state === 'up') {
        console.error(
          `path restored (${e.path}) in ${e.afterMs} ms, ${e.edge} edge${e.note === undefined ? '' : `; ${e.note}`}`,
        );
      } else console.error(`path restart failed: ${e.reason}`);
    }),
  ];
  const { reason, logPath } = await client.talk(durationMs).finally(() => {
    for (const off of offs) off();
  });
  const summary = callSummary(peer, reason, up.sas?.words, logPath);
  console.log(json ? JSON.stringify(summary) : formatSummary(summary));
  return 0;
}

/**
 * Invites `peerId` and resolves with `'accepted'` or the `callEnded` event that ended the call.
 * Both outcomes are listened for before the invite goes out: a peer that accepts at once (a
 * host with --accept-all, in the server's own process) can have its `call.accepted` handled in
 * the same socket read as the invite's result, before the code after `await invite()` runs;
 * listening only then missed it and left the caller waiting for ever. An unavailable peer is
 * `CALL_ERR_OFFLINE`.
 */
export async function inviteAndWait(
  session: ClientSession,
  peerId: string,
  peerName: string,
): Promise<'accepted' | ClientSessionEvents['callEnded']> {
  const ended = session.once('callEnded');
  const accepted = session.once('callAccepted').then(() => 'accepted' as const);
  try {
    await session.invite(peerId);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SIG_ERR_UNAVAILABLE') {
      throw new EngineError('CALL_ERR_OFFLINE', `${peerName} is not available`, { cause: err });
    }
    throw err;
  }
  return Promise.race([accepted, ended]);
}

export const command: Command = {
  usage: `Usage: parloir call --server URL --user NAME --to PEER [options]

Calls PEER, waits for the answer, talks, hangs up, prints a QoS summary.

  --server URL       host[:port], https://host:port, or http://host:port (--insecure-http server)
  --user NAME        your name on the server
  --to PEER          who to call
  --in DEV           capture device: alsa:NAME, wav:FILE or null (default alsa:default)
  --out DEV          playback device (default alsa:default)
  --duration S       hang up after S seconds (default: until the peer hangs up or Ctrl-C)
  --relay            use only relayed (TURN) candidates
  --bitrate 24k      Opus bitrate (default 32k)
  --frame-ms 20      Opus frame, 10/20/40/60 ms (default 20)
  --no-adapt         no automatic adaptation to measured QoS
  --profile DIR      identity, pinned servers and QoS logs (default ~/.config/parloir)
  --password P       server password
  --json             print the summary as JSON
  --host-address IP  offer only this local address as ICE host candidate (e.g. 127.0.0.1);
                     repeat it to allow several: those on an interface are used, and an ICE
                     restart moves the call when one goes away or another comes up
  --aec on|off       echo cancellation (default: on for an alsa: capture, off for wav:/null)
  --ns on|off        noise suppression (same default)
  --agc on|off       automatic gain control (same default)
  --audio-engine E   webrtc (default) or speex; mid-call in parloir connect: set aec off, …
  --acoustic-room MS tests: the wav:/null capture also hears the wav:/null playback through a
                     simulated room with this delay (20..250 ms), like a laptop without headset

Exit status: 0 after a call, 1 if it was refused, busy, unanswered, the peer is offline, or
media failed (the reason is printed).`,
  options: { ...CALL_OPTIONS, to: { type: 'string' } },
  allowPositionals: false,
  async run(args) {
    const to = stringOpt(args, 'to', true);
    const duration = durationMs(stringOpt(args, 'duration'));
    const json = args.values.json === true;
    const client = await NativeClient.open(
      clientOptionsFromArgs(args, (m) => console.error(`parloir: ${m}`)),
    );
    try {
      const peer = await client.findUser(to);
      if (peer === undefined) {
        throw new EngineError('CALL_ERR_OFFLINE', `${to} is not online (or not reachable)`);
      }
      console.error(`calling ${to}…`);
      const outcome = await inviteAndWait(client.session, peer.userId, to);
      if (outcome !== 'accepted') throw callEndError(outcome.reason);
      return await talkAndReport(client, to, duration, json);
    } finally {
      await client.close();
    }
  },
};
