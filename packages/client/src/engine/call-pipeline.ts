/**
 * The one media pipeline of a native call, in C, behind the engine's {@link CallPipeline} port:
 *
 * - send: capture device (`audio-devices.ts`: the ALSA capture thread, or the sender's own thread
 *   pacing a `wav:`/`null` source) → gain/mute → Opus → RTP → SRTP → network edge
 *   (`@parloir/native` `NativeRtpSender`, sender.c);
 * - receive: network edge → SRTP → jitter buffer (jitter.c) → decode/FEC/PLC → playback device
 *   (`NativeRtpReceiver`, receiver.c; the ALSA playback thread, or the receiver's own thread
 *   pacing a `wav:`/`null` device).
 *
 * Only the network edge varies (`transport/media-edge/`): `direct`, where C reads and writes the
 * ICE socket and does SRTP itself, or `werift`, where werift makes, seals and opens the packets
 * (relayed pairs, other SRTP profiles, werift internals that changed) and each crosses between C
 * and JavaScript through one call each way.
 */
import { AudioPipe, type AudioPipeRoom } from '@parloir/native';
import type { EchoState } from '@parloir/protocol';
import type { MediaEdge, MediaEdgeOptions } from '../transport/media-edge/index.ts';
import type { TransportStats } from '../transport/peer-transport.ts';
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import { parseDeviceSpec } from '../audio/index.ts';
import { DeviceCapture, DevicePlayback } from './audio-devices.ts';
import { EngineError } from './errors.ts';
import { engineJitterOptions, jitterSnapshot, pullDecision } from './jitter-options.ts';
import type {
  AudioProcessingSettings,
  CallPipeline,
  PacketRecord,
  PlayedTickProbe,
  SentFrameProbe,
} from './ports.ts';

const SAMPLES_PER_MS = 48;

/** What the pipeline needs from the transport. {@link PeerTransport} fits. */
export interface PipelineTransport {
  /** Opens the call's network edge (once connected). */
  openEdge(options: MediaEdgeOptions): MediaEdge;
  /** Transport statistics. */
  stats(): Promise<TransportStats>;
}

/** Options of {@link NativeCallPipeline}. */
export interface NativeCallPipelineOptions {
  /** The connected transport. */
  transport: PipelineTransport;
  /** Capture device; it feeds the C sender. */
  capture: Pick<DeviceCapture, 'attach' | 'setPeriodMs' | 'startedAtMs' | 'close'>;
  /** Playback device; it plays the C receiver. */
  playback: Pick<DevicePlayback, 'attach' | 'setPeriodMs' | 'startedAtMs' | 'close'>;
  /**
   * Tests: the paced capture (`wav:`/`null`) also hears the paced playback through this room,
   * like a laptop's microphone its speakers (src/apm_pipe.cc).
   */
  room?: AudioPipeRoom;
}

const AUDIO_OFF: AudioProcessingSettings = {
  engine: 'webrtc',
  aec: false,
  ns: false,
  agc: false,
  aecLevel: 'low',
  nsLevel: 2,
};

/** The C pipeline on the transport's network edge. */
export class NativeCallPipeline implements CallPipeline {
  #o: NativeCallPipelineOptions;
  #edge: MediaEdge | undefined;
  #stopped = false;
  #frameSamples = 960;
  #periodMs = 10;
  #captureSpec: string | undefined;
  #playbackSpec: string | undefined;
  #audio = AUDIO_OFF;
  #pipe: AudioPipe | undefined;

  constructor(
    options: NativeCallPipelineOptions & { captureSpec?: string; playbackSpec?: string },
  ) {
    this.#o = options;
    this.#captureSpec = options.captureSpec;
    this.#playbackSpec = options.playbackSpec;
  }

  /** The running edge, or ENGINE_ERR_NOT_RUNNING. */
  #runningEdge(what: string): MediaEdge {
    const edge = this.#edge;
    if (edge === undefined || this.#stopped) {
      throw new EngineError('ENGINE_ERR_NOT_RUNNING', `no call media to switch the ${what} of`);
    }
    return edge;
  }

  /**
   * Replaces the playback device during the call: the old ALSA stream is closed (its thread
   * stops pulling the C receiver), then the new one pulls the same receiver — same jitter
   * buffer, decoder and volume — from its first period. Both devices must be `alsa:` (a
   * `wav:`/`null` device is the receiver's own paced thread, started once per call): anything
   * else is ENGINE_ERR_DEVICE. If the new device fails to open, the old one is reopened.
   */
  async switchPlayback(spec: string): Promise<void> {
    const edge = this.#runningEdge('playback');
    if (!isAlsaSpec(spec) || !isAlsaSpec(this.#playbackSpec)) {
      throw new EngineError(
        'ENGINE_ERR_DEVICE',
        `playback switches during a call between alsa: devices only (${this.#playbackSpec ?? '?'} → ${spec})`,
      );
    }
    const next = new DevicePlayback({ spec });
    next.setPeriodMs(this.#periodMs);
    await this.#o.playback.close();
    try {
      next.attach(edge.receive.receiver);
    } catch (err) {
      const back = new DevicePlayback({ spec: this.#playbackSpec ?? spec });
      back.setPeriodMs(this.#periodMs);
      back.attach(edge.receive.receiver);
      this.#o.playback = back;
      throw err;
    }
    this.#o.playback = next;
    this.#playbackSpec = spec;
  }

  /**
   * Replaces the capture device during the call: the new ALSA stream feeds the same C sender
   * (same RTP stream, capture clock and encoder) from its first period; the old stream is closed
   * first, so no frame is fed twice. Both devices must be `alsa:` (a `wav:`/`null` source is the
   * sender's own paced thread, started once per call): anything else is ENGINE_ERR_DEVICE.
   */
  async switchCapture(spec: string): Promise<void> {
    const edge = this.#runningEdge('capture');
    if (!isAlsaSpec(spec) || !isAlsaSpec(this.#captureSpec)) {
      throw new EngineError(
        'ENGINE_ERR_DEVICE',
        `capture switches during a call between alsa: devices only (${this.#captureSpec ?? '?'} → ${spec})`,
      );
    }
    const next = new DeviceCapture({ spec, frameSamples: this.#frameSamples });
    next.setPeriodMs(this.#periodMs);
    await this.#o.capture.close();
    next.attach(edge.sender);
    this.#o.capture = next;
    this.#captureSpec = spec;
  }

  start(
    initial: { frameMs: number; bitrateBps: number; jbMinMs: number; jbMaxMs: number },
    probing: boolean,
  ): void {
    if (this.#edge !== undefined) return;
    if (this.#stopped) throw new EngineError('ENGINE_ERR_NOT_RUNNING', 'the pipeline is stopped');
    const edge = this.#o.transport.openEdge({
      frameSamples: initial.frameMs * SAMPLES_PER_MS,
      bitrateBps: initial.bitrateBps,
      jitter: engineJitterOptions(initial.jbMinMs, initial.jbMaxMs),
    });
    this.#edge = edge;
    if (probing) {
      edge.sender.setProbing(true);
      edge.receive.receiver.setProbing(true);
    }
    // The transport closes the edge with the call; a device that fails to start stops it here.
    try {
      // Echo cancellation, NS, AGC on the capture thread, against what the playback plays.
      this.#pipe = new AudioPipe(this.#audio, this.#o.room);
      this.#pipe.attach(edge.sender, edge.receive.receiver);
      this.#o.capture.attach(edge.sender);
      this.#o.playback.attach(edge.receive.receiver);
    } catch (err) {
      edge.sender.close();
      edge.receive.close();
      throw err;
    }
  }

  get edge(): string {
    const e = this.#edge;
    if (e === undefined) return 'not started';
    return e.kind === 'werift' ? `werift (${e.reason ?? 'unknown'})` : e.kind;
  }

  get edgeError(): { code: string; message: string } | undefined {
    const err = this.#edge?.error;
    return err === undefined ? undefined : { code: err.code, message: err.message };
  }

  #sender() {
    const s = this.#edge?.sender;
    return s === undefined || s.closed ? undefined : s;
  }

  #receiver() {
    const r = this.#edge?.receive.receiver;
    return r === undefined || r.closed ? undefined : r;
  }

  setBitrate(bps: number): void {
    this.#sender()?.setBitrate(bps);
  }
  setFec(on: boolean): void {
    this.#sender()?.setFec(on);
  }
  setExpectedLoss(pct: number): void {
    this.#sender()?.setExpectedLoss(pct);
  }
  setDtx(on: boolean): void {
    this.#sender()?.setDtx(on);
  }
  setFrameSamples(samples: number): void {
    this.#frameSamples = samples;
    this.#sender()?.setFrameSamples(samples);
  }
  setGain(linear: number): void {
    this.#sender()?.setGain(linear);
  }
  setMuted(on: boolean): void {
    this.#sender()?.setMuted(on);
  }
  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    this.#o.capture.setPeriodMs(ms);
    this.#o.playback.setPeriodMs(ms);
  }
  setBounds(minMs: number, maxMs: number): void {
    this.#receiver()?.setBounds(minMs, maxMs);
  }
  setVolume(linear: number): void {
    this.#receiver()?.setVolume(linear);
  }
  takeInputPeak(): number {
    return this.#sender()?.takePeak() ?? 0;
  }
  setAudioProcessing(s: AudioProcessingSettings): void {
    this.#audio = { ...s };
    if (!this.#stopped) this.#pipe?.set(s);
  }

  echoState(): EchoState | undefined {
    const p = this.#pipe;
    if (p === undefined || this.#stopped) return undefined;
    const st = p.stats();
    const num = (v: number): number | null => (Number.isFinite(v) ? Math.round(v * 10) / 10 : null);
    return {
      engine: st.engine,
      aec: st.engine !== 'off' && this.#audio.aec,
      delayMs: st.libraryDelayMs >= 0 ? num(st.libraryDelayMs) : null,
      erleDb: num(st.measuredErleDb),
      converged: st.converged,
    };
  }

  get captureClockSamples(): number {
    return this.#sender()?.stats().clockSamples ?? 0;
  }

  get captureStartedAtMs(): number | undefined {
    return this.#o.capture.startedAtMs;
  }

  get playbackStartedAtMs(): number | undefined {
    return this.#o.playback.startedAtMs;
  }

  jitterSnapshot(): JitterBufferSnapshot {
    const r = this.#receiver();
    if (r === undefined) {
      return {
        delayMs: 0,
        targetMs: 0,
        latePackets: 0,
        concealedMs: 0,
        fecRecovered: 0,
        accelerate: 0,
        expand: 0,
      };
    }
    return jitterSnapshot(r.stats().jitterBuffer);
  }

  onRecords(listener: (records: PacketRecord[]) => void): () => void {
    const e = this.#edge;
    if (e === undefined) return () => {};
    return e.receive.onRecords(listener);
  }

  stats(): Promise<TransportStats> {
    return this.#o.transport.stats();
  }

  takeProbes(): { frames: SentFrameProbe[]; ticks: PlayedTickProbe[] } {
    const s = this.#sender();
    const r = this.#receiver();
    return {
      frames: s === undefined ? [] : s.takeProbes(),
      ticks:
        r === undefined
          ? []
          : r.takeProbes().map((t) => ({
              pcm: t.pcm,
              clockSamples: t.clockSamples,
              pulledAtMs: t.pulledAtMs,
              decision: pullDecision(t.decision),
            })),
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Before the devices close: no frame is fed to a closed sender's socket.
    this.#edge?.sender.close();
    this.#pipe?.close();
    await Promise.all([this.#o.capture.close(), this.#o.playback.close()]);
  }
}

/** Whether `spec` names an ALSA device (`alsa:NAME`). */
function isAlsaSpec(spec: string | undefined): boolean {
  try {
    return spec !== undefined && parseDeviceSpec(spec).kind === 'alsa';
  } catch {
    return false;
  }
}
