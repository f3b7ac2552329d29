/**
 * The host's audio in `parloir host`: the host is a participant like any other, so its calls run
 * through {@link CallMedia}. Approving a connection request is the host's consent to talk, so
 * calls from approved participants are accepted at once; the verification code, QoS and the end
 * of each call are printed.
 */
import type { SignalingClient } from '../signaling/index.ts';
import { CallMedia } from './call-media.ts';
import { callSummary, formatSummary } from './native-client.ts';

/** Options of {@link attachHostAudio}. */
export interface HostAudioOptions {
  /** The host's signalling client (from `startHost`). */
  client: SignalingClient;
  /** Capture device spec. */
  input: string;
  /** Playback device spec. */
  output: string;
  /** Profile directory for QoS logs. */
  profileDir?: string | undefined;
  /** Host candidate addresses (tests). */
  hostAddresses?: string[] | undefined;
  /** Output lines. */
  print?: (line: string) => void;
}

/** Starts answering calls with audio; returns a function that stops and releases the devices. */
export function attachHostAudio(o: HostAudioOptions): () => Promise<void> {
  const print = o.print ?? ((l: string) => console.log(l));
  const session = o.client.session;
  const media = new CallMedia({
    session,
    input: o.input,
    output: o.output,
    profileDir: o.profileDir,
    hostAddresses: o.hostAddresses,
  });
  let peer = 'peer';
  let sas: string | undefined;
  const offs = [
    session.on('incomingCall', ({ from }) => {
      print(`call from ${from.name}: accepting`);
      session.accept().catch((err: unknown) => {
        print(`cannot accept: ${err instanceof Error ? err.message : String(err)}`);
      });
    }),
    media.on('state', (s) => {
      if (s.phase === 'up') {
        peer = s.peer ?? peer;
        sas = s.sas?.words;
        print(
          `media up with ${s.peer ?? '?'} (${s.path ?? '?'}), verification code: ${s.sas?.words ?? 'n/a'}`,
        );
      }
      if (s.phase === 'failed') print(`media failed: ${s.error ?? 'unknown'}`);
    }),
    media.on('ended', (e) => {
      print(`media ended (${e.reason})`);
      print(formatSummary(callSummary(peer, e.reason, sas, e.logPath)));
    }),
  ];
  return async () => {
    for (const off of offs) off();
    await media.close();
  };
}
