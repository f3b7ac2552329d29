/**
 * An in-memory {@link CallPipeline} for the engine's unit tests: `deliver` hands packet records
 * to the engine's listener as the C receiver's records would reach it, the jitter-buffer state and
 * transport statistics are plain objects a test changes between snapshots. Test-only; the engine
 * itself never imports this.
 */
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import type { TransportStats } from '../transport/peer-transport.ts';
import type { CallPipeline, PacketRecord } from './ports.ts';

/** A fake pipeline and the hooks that feed it. */
export interface FakePipeline {
  /** The port handed to `CallEngine`. */
  port: CallPipeline;
  /** Hands packet records to the engine's listener; false if the engine is not listening. */
  deliver(records: PacketRecord[]): boolean;
  /** The jitter buffer's state the snapshots read (change it between them). */
  jb: JitterBufferSnapshot;
  /** The transport statistics the snapshots read. */
  stats: TransportStats;
}

/** A pipeline that sends nowhere; defaults: a direct path with no traffic and no RTT. */
export function fakePipeline(stats: Partial<TransportStats> = {}): FakePipeline {
  let listener: ((r: PacketRecord[]) => void) | undefined;
  const jb: JitterBufferSnapshot = {
    delayMs: 20,
    targetMs: 20,
    latePackets: 0,
    concealedMs: 0,
    fecRecovered: 0,
    accelerate: 0,
    expand: 0,
  };
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
  const nothing = (): void => {};
  return {
    jb,
    stats: full,
    port: {
      start: nothing,
      edge: 'direct',
      edgeError: undefined,
      setBitrate: nothing,
      setFec: nothing,
      setExpectedLoss: nothing,
      setDtx: nothing,
      setFrameSamples: nothing,
      setGain: nothing,
      setMuted: nothing,
      setPeriodMs: nothing,
      setBounds: nothing,
      setVolume: nothing,
      setAudioProcessing: nothing,
      echoState: () => undefined,
      switchCapture: () => Promise.resolve(),
      switchPlayback: () => Promise.resolve(),
      takeInputPeak: () => 0,
      captureClockSamples: 0,
      captureStartedAtMs: undefined,
      playbackStartedAtMs: undefined,
      jitterSnapshot: () => ({ ...jb }),
      onRecords: (l) => {
        listener = l;
        return () => (listener = undefined);
      },
      stats: () => Promise.resolve(full),
      takeProbes: () => ({ frames: [], ticks: [] }),
      stop: () => Promise.resolve(),
    },
    deliver(records) {
      if (listener === undefined) return false;
      listener(records);
      return true;
    },
  };
}
