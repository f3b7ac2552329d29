/**
 * In-memory ports shared by the engine's unit tests: a transport whose `deliver` hands a packet
 * to the engine's RTP listener, and a capture device that never produces audio. Test-only; the
 * engine itself never imports this.
 */
import type { ReceivedRtp, TransportStats } from '../transport/peer-transport.ts';
import type { MediaTransportPort } from './engine.ts';
import type { CapturePort } from './ports.ts';

/** A fake transport and the hook that feeds it. */
export interface FakeTransport {
  /** The port handed to `CallEngine`. */
  port: MediaTransportPort;
  /** Hands one packet to the engine's listener; false if the engine is not listening. */
  deliver(p: ReceivedRtp): boolean;
  /** Whether the engine has subscribed to RTP. */
  readonly listening: boolean;
}

/**
 * A transport that sends nowhere and reports `stats` (the same object, so a test can change it
 * between snapshots). Defaults: a direct path with no traffic and no RTT.
 */
export function fakeTransport(stats: Partial<TransportStats> = {}): FakeTransport {
  let listener: ((p: ReceivedRtp) => void) | undefined;
  const full: TransportStats = {
    rttMs: undefined,
    remoteFractionLost: undefined,
    remotePacketsLost: undefined,
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    packetsReplayed: 0,
    path: 'direct',
    localCandidateType: undefined,
    remoteCandidateType: undefined,
    ...stats,
  };
  return {
    port: {
      sendOpus: () => {},
      on: (_e, l) => {
        listener = l;
        return () => (listener = undefined);
      },
      stats: () => Promise.resolve(full),
    },
    deliver(p) {
      if (listener === undefined) return false;
      listener(p);
      return true;
    },
    get listening() {
      return listener !== undefined;
    },
  };
}

/** A capture device that starts, changes settings and closes, but never delivers a frame. */
export function silentCapture(): CapturePort {
  return {
    start: () => {},
    setFrameSamples: () => {},
    setPeriodMs: () => {},
    close: () => Promise.resolve(),
  };
}
