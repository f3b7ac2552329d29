/**
 * The call engine: wires capture → gain/mute → Opus → RTP on the transport, and RTP → jitter
 * buffer (decode/FEC/PLC) → playback, the receive side driven by the playback device's clock.
 * Settings change mid-call without renegotiation; once a second it builds a QoS snapshot and, if
 * adaptation is on, applies the policy's changes.
 */
import { parseOpusToc, RtpReceiveStats } from '@parloir/media';
import type { NativeJitterOptions, NativeRtpSender, ReceivedPacketRecord } from '@parloir/native';
import type { CallSettings, QosSnapshot, Suggestion } from '../qos-log/qos-log.ts';
import type { NativeReceive } from '../transport/native-receive.ts';
import type { ReceivedRtp, TransportStats } from '../transport/peer-transport.ts';
import { EngineError } from './errors.ts';
import {
  engineJitterOptions,
  nativeJitterBufferView,
  pullDecision,
} from './media-jitter-buffer.ts';
import type {
  CapturePort,
  EncoderPort,
  JitterBufferPort,
  PlaybackPort,
  PullDecision,
  QualityModelPort,
} from './ports.ts';

const SAMPLES_PER_MS = 48;
/** Extra playout queued at an arrival for the next packet's lateness, ms. */
const ARRIVAL_MARGIN_MS = 3;
/** The payload of a probe's packet on the native receive path (the payload stays in C). */
const EMPTY = Buffer.alloc(0);

/** What the engine needs from the transport. {@link PeerTransport} fits. */
export interface MediaTransportPort {
  /** Sends one Opus frame; `timestamp` in 48 kHz ticks from the stream start. */
  sendOpus(payload: Buffer, timestamp: number, marker: boolean): void;
  /** Subscribes to received RTP. */
  on(event: 'rtp', listener: (p: ReceivedRtp) => void): () => void;
  /** Transport statistics. */
  stats(): Promise<TransportStats>;
  /**
   * Optional: moves the send direction into C (see `PeerTransport.openNativeSender`); returns
   * why not when it cannot.
   */
  openNativeSender?(options: {
    frameSamples: number;
    bitrateBps: number;
  }): NativeRtpSender | string;
  /**
   * Optional: moves the receive direction into C (see `PeerTransport.openNativeReceiver`);
   * returns why not when it cannot.
   */
  openNativeReceiver?(jitter: NativeJitterOptions): NativeReceive | string;
}

/** Default settings: 32 kbit/s, 20 ms, FEC on, DTX off, buffer 20–400 ms, 10 ms period. */
export const DEFAULT_SETTINGS: CallSettings = {
  bitrateBps: 32_000,
  frameMs: 20,
  fec: true,
  expectedLossPct: 0,
  dtx: false,
  jbMinMs: 20,
  jbMaxMs: 400,
  periodMs: 10,
  gainDb: 0,
  muted: false,
  adapt: true,
};

/** Optional probes, for the latency benchmark and tests. Called on the hot path: keep cheap. */
export interface EngineProbes {
  /**
   * A frame came from the capture device (`clockSamples` = its capture clock). On the native
   * send path `pcm` is undefined and the call comes up to 100 ms later, with the frame's time.
   */
  captured?(pcm: Int16Array | undefined, clockSamples: number, nowMs: number): void;
  /** A frame was encoded and handed to the transport. */
  sent?(rtpTimestamp: number, nowMs: number): void;
  /** An RTP packet arrived. */
  received?(p: ReceivedRtp, nowMs: number): void;
  /** One tick was written to the playback device (`clockSamples` = its playback clock). */
  played?(out: Int16Array, clockSamples: number, nowMs: number, decision: PullDecision): void;
}

/** Options of {@link CallEngine}. */
export interface CallEngineOptions {
  /** The media transport (connected or about to be). */
  transport: MediaTransportPort;
  /** Capture device. Its frame size is set by the engine. */
  capture: CapturePort;
  /** Playback device; its clock drives the receive side. */
  playback: PlaybackPort;
  /** Opus encoder. */
  encoder: EncoderPort;
  /** Jitter buffer (owns the decoder). */
  jitterBuffer: JitterBufferPort;
  /** E-model and adaptation policy. */
  quality: QualityModelPort;
  /** Initial settings; missing fields take {@link DEFAULT_SETTINGS}. */
  settings?: Partial<CallSettings>;
  /** Called with every once-a-second snapshot. */
  onSnapshot?: (s: QosSnapshot) => void;
  /** Monotonic clock, ms. Default `performance.now`. */
  now?: () => number;
  /** Probes for measurements. */
  probes?: EngineProbes;
  /** Snapshot period, ms. Default 1000. */
  snapshotMs?: number;
  /**
   * Send frames through a native sender when the transport and capture device allow it
   * (default true; `PARLOIR_NATIVE_SEND=0` in the environment turns it off).
   */
  nativeSend?: boolean;
  /**
   * Receive through a native receiver (socket, SRTP, the C jitter buffer and playout on native
   * threads) when the transport and playback device allow it (default true;
   * `PARLOIR_NATIVE_RECEIVE=0` in the environment turns it off).
   */
  nativeReceive?: boolean;
}

/** Names accepted by {@link CallEngine.set}, as typed on the CLI: `set bitrate 24k`. */
export const SETTING_NAMES = [
  'bitrate',
  'frame',
  'fec',
  'loss',
  'dtx',
  'jb-min',
  'jb-max',
  'period',
  'gain',
  'mute',
  'adapt',
] as const;
/** One setting name. */
export type SettingName = (typeof SETTING_NAMES)[number];

function parseBool(name: string, v: string): boolean {
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  throw new EngineError('ENGINE_ERR_BAD_SETTING', `${name}: expected on or off, got '${v}'`);
}

function parseNum(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new EngineError('ENGINE_ERR_BAD_SETTING', `${name}: expected ${min}..${max}, got '${v}'`);
  }
  return n;
}

/** Parses a bitrate like `24k`, `24000` or `24kbps`, bit/s (6–510 kbit/s, RFC 6716 §2.1.1). */
export function parseBitrate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kbps|kbit\/s)?$/i.exec(v.trim());
  const bps = m === null ? Number.NaN : Number(m[1]) * (m[2] === undefined ? 1 : 1000);
  if (!Number.isFinite(bps) || bps < 6000 || bps > 510_000) {
    throw new EngineError('ENGINE_ERR_BAD_SETTING', `bitrate: expected 6k..510k, got '${v}'`);
  }
  return Math.round(bps);
}

/**
 * Applies one textual setting to a settings object and returns the new one (pure; the engine
 * then pushes the difference to the devices and codec).
 */
export function applySetting(s: CallSettings, name: string, value: string): CallSettings {
  const v = value.trim().toLowerCase();
  switch (name) {
    case 'bitrate':
      return { ...s, bitrateBps: parseBitrate(v) };
    case 'frame': {
      const ms = parseNum(name, v.replace(/ms$/, ''), 10, 60);
      if (![10, 20, 40, 60].includes(ms)) {
        throw new EngineError('ENGINE_ERR_BAD_SETTING', `frame: expected 10, 20, 40 or 60 ms`);
      }
      return { ...s, frameMs: ms };
    }
    case 'fec':
      return { ...s, fec: parseBool(name, v) };
    case 'loss':
      return { ...s, expectedLossPct: parseNum(name, v.replace(/%$/, ''), 0, 100) };
    case 'dtx':
      return { ...s, dtx: parseBool(name, v) };
    case 'jb-min': {
      const ms = parseNum(name, v.replace(/ms$/, ''), 0, 1000);
      return { ...s, jbMinMs: ms, jbMaxMs: Math.max(ms, s.jbMaxMs) };
    }
    case 'jb-max': {
      const ms = parseNum(name, v.replace(/ms$/, ''), 20, 2000);
      return { ...s, jbMaxMs: ms, jbMinMs: Math.min(ms, s.jbMinMs) };
    }
    case 'period':
      return { ...s, periodMs: parseNum(name, v.replace(/ms$/, ''), 1, 100) };
    case 'gain':
      return { ...s, gainDb: parseNum(name, v.replace(/db$/, ''), -60, 30) };
    case 'mute':
      return { ...s, muted: parseBool(name, v) };
    case 'adapt':
      return { ...s, adapt: parseBool(name, v) };
    default:
      throw new EngineError(
        'ENGINE_ERR_BAD_SETTING',
        `unknown setting '${name}' (one of ${SETTING_NAMES.join(', ')})`,
      );
  }
}

/** One running call's media. */
export class CallEngine {
  #o: CallEngineOptions;
  #now: () => number;
  #settings: CallSettings;
  #gainLinear = 1;
  #running = false;
  #startedMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #offRtp: (() => void) | undefined;
  #firstPacket = true;
  /** Smoothed time between a pull and the playout of its first sample, ms. */
  #pullLeadMs: number | undefined;
  #captureClock = 0;
  /** Receive-side statistics (RFC 3550 §A.3 loss, §A.8 jitter): the media core's. */
  readonly #rtpStats = new RtpReceiveStats(SAMPLES_PER_MS * 1000);
  #prev = { bytesSent: 0, bytesReceived: 0, tMs: 0, late: 0 };
  #lastSnapshot: QosSnapshot | undefined;
  #suggestions: Suggestion[] = [];
  /** The native send path, when in use. */
  #native: NativeRtpSender | undefined;
  #sendPath = 'javascript (not started)';
  /** The native receive path, when in use. */
  #rx: NativeReceive | undefined;
  #receivePath = 'javascript (not started)';
  /** The buffer's settings and QoS side: the injected one, or the native receiver's C port. */
  #jb: Pick<JitterBufferPort, 'setBounds' | 'snapshot'>;
  #probeTimer: NodeJS.Timeout | undefined;

  constructor(options: CallEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#settings = { ...DEFAULT_SETTINGS, ...options.settings };
    this.#jb = options.jitterBuffer;
  }

  /** Settings in force. */
  get settings(): CallSettings {
    return { ...this.#settings };
  }

  /** Capture device clock at the last frame captured, ms since the capture started. */
  get captureClockMs(): number {
    const n = this.#native;
    return (n === undefined ? this.#captureClock : n.stats().clockSamples) / SAMPLES_PER_MS;
  }

  /** `native` when frames are sent from C, else `javascript (why)`. */
  get sendPath(): string {
    return this.#sendPath;
  }

  /** `native` when packets are received and played from C, else `javascript (why)`. */
  get receivePath(): string {
    return this.#receivePath;
  }

  /**
   * Wall-clock origins of the two device clocks, Unix ms: when capture sample 0 was taken and
   * when playback sample 0 played (undefined before a device starts, or for a device that does
   * not tell). Capture sample N was taken at `captureMs + N / 48`; playback sample N played at
   * `playbackMs + N / 48`, so a recording of each gives mouth-to-ear delay across processes.
   */
  get deviceClocks(): { captureMs: number | undefined; playbackMs: number | undefined } {
    const wall = (t: number | undefined): number | undefined =>
      t === undefined ? undefined : performance.timeOrigin + t;
    return {
      captureMs: wall(this.#o.capture.startedAtMs),
      playbackMs: wall(this.#o.playback.startedAtMs),
    };
  }

  /** The last snapshot, if any. */
  get lastSnapshot(): QosSnapshot | undefined {
    return this.#lastSnapshot;
  }

  /** Starts both paths and the once-a-second snapshot. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedMs = this.#now();
    this.#prev.tMs = this.#startedMs;
    const o = this.#o;
    this.#native = this.#openNative();
    this.#rx = this.#openNativeReceive();
    this.#applyAll();
    if (this.#rx === undefined) this.#offRtp = o.transport.on('rtp', (p) => this.#onRtp(p));
    else this.#offRtp = this.#rx.onRecords((r) => this.#onRecords(r));
    if (this.#native === undefined) {
      o.capture.start((pcm, clock) => this.#onCapture(pcm, clock));
    } else {
      try {
        o.capture.startNative?.(this.#native);
      } catch (err) {
        this.#native.close();
        throw err;
      }
    }
    const rx = this.#rx;
    if (rx !== undefined) {
      try {
        o.playback.startNative?.(rx.receiver);
      } catch (err) {
        this.#native?.close();
        throw err;
      }
    } else
      o.playback.start((out, clock, playAtMs) => {
        const now = this.#now();
        // The buffer's playout clock is the playback device's: the time `out[0]` will play, less
        // the average lead of a pull over it (device buffer plus queue, smoothed), so it runs on
        // the same monotonic clock as the arrival times and ≈ now, but advances exactly one tick
        // per tick. Timer jitter on a busy event loop (pulls bunched or late by ±10 ms and more)
        // then no longer reads as buffer-level swings, which made the buffer expand and
        // accelerate in turn (docs/engine.md).
        const lead = playAtMs - now;
        this.#pullLeadMs =
          this.#pullLeadMs === undefined ? lead : this.#pullLeadMs + (lead - this.#pullLeadMs) / 64;
        const d = o.jitterBuffer.pull(out, playAtMs - this.#pullLeadMs);
        o.probes?.played?.(out, clock, now, d);
      });
    this.#timer = setInterval(() => void this.#snapshot(), o.snapshotMs ?? 1000);
  }

  /** Changes one setting by name and textual value (`set frame 10`). Returns the new settings. */
  set(name: string, value: string): CallSettings {
    this.update(applySetting(this.#settings, name, value));
    return this.settings;
  }

  /** Replaces settings, pushing each difference to codec, devices and buffer. */
  update(next: CallSettings): void {
    const prev = this.#settings;
    this.#settings = { ...next };
    if (!this.#running) return;
    const o = this.#o;
    const enc = this.#native ?? o.encoder;
    if (next.bitrateBps !== prev.bitrateBps) enc.setBitrate(next.bitrateBps);
    if (next.fec !== prev.fec) enc.setFec(next.fec);
    if (next.expectedLossPct !== prev.expectedLossPct) enc.setExpectedLoss(next.expectedLossPct);
    if (next.dtx !== prev.dtx) enc.setDtx(next.dtx);
    if (next.frameMs !== prev.frameMs) this.#setFrame(next.frameMs);
    if (next.gainDb !== prev.gainDb || next.muted !== prev.muted) this.#setGain(next);
    if (next.periodMs !== prev.periodMs) {
      o.capture.setPeriodMs(next.periodMs);
      o.playback.setPeriodMs(next.periodMs);
    }
    if (next.jbMinMs !== prev.jbMinMs || next.jbMaxMs !== prev.jbMaxMs) {
      this.#jb.setBounds(next.jbMinMs, next.jbMaxMs);
    }
  }

  /** Stops both paths and closes the devices. Idempotent. Returns the media duration, ms. */
  async stop(): Promise<number> {
    if (!this.#running) return 0;
    this.#running = false;
    clearInterval(this.#timer);
    clearInterval(this.#probeTimer);
    this.#offRtp?.();
    this.#takeProbes();
    this.#native?.close();
    await Promise.all([this.#o.capture.close(), this.#o.playback.close()]);
    return this.#now() - this.#startedMs;
  }

  /** Builds a snapshot now (also called once a second). */
  async snapshotNow(): Promise<QosSnapshot> {
    return this.#snapshot();
  }

  #applyAll(): void {
    const s = this.#settings;
    const o = this.#o;
    const enc = this.#native ?? o.encoder;
    enc.setBitrate(s.bitrateBps);
    enc.setFec(s.fec);
    enc.setExpectedLoss(s.expectedLossPct);
    enc.setDtx(s.dtx);
    this.#setFrame(s.frameMs);
    this.#setGain(s);
    o.capture.setPeriodMs(s.periodMs);
    o.playback.setPeriodMs(s.periodMs);
    this.#jb.setBounds(s.jbMinMs, s.jbMaxMs);
  }

  #setFrame(frameMs: number): void {
    const samples = frameMs * SAMPLES_PER_MS;
    // The capture device delivers the frames on the JavaScript path; the sender cuts them itself.
    if (this.#native === undefined) this.#o.capture.setFrameSamples(samples);
    else this.#native.setFrameSamples(samples);
  }

  #setGain(s: CallSettings): void {
    this.#gainLinear = 10 ** (s.gainDb / 20);
    this.#native?.setGain(this.#gainLinear);
    this.#native?.setMuted(s.muted);
  }

  /** Opens the native send path if the transport, the device and the options allow it. */
  #openNative(): NativeRtpSender | undefined {
    const o = this.#o;
    const s = this.#settings;
    if (o.nativeSend === false || process.env.PARLOIR_NATIVE_SEND === '0') {
      this.#sendPath = 'javascript (native sender turned off)';
      return undefined;
    }
    if (o.capture.startNative === undefined || o.capture.canStartNative?.() !== true) {
      this.#sendPath = 'javascript (the capture device has no native path)';
      return undefined;
    }
    const r = o.transport.openNativeSender?.({
      frameSamples: s.frameMs * SAMPLES_PER_MS,
      bitrateBps: s.bitrateBps,
    });
    if (r === undefined || typeof r === 'string') {
      this.#sendPath = `javascript (${r ?? 'the transport has no native path'})`;
      return undefined;
    }
    this.#sendPath = 'native';
    const p = o.probes;
    if (p?.captured !== undefined || p?.sent !== undefined) {
      r.setProbing(true);
      this.#probeTimer ??= setInterval(() => this.#takeProbes(), 100);
    }
    return r;
  }

  /** Opens the native receive path if the transport, the device and the options allow it. */
  #openNativeReceive(): NativeReceive | undefined {
    const o = this.#o;
    const s = this.#settings;
    if (o.nativeReceive === false || process.env.PARLOIR_NATIVE_RECEIVE === '0') {
      this.#receivePath = 'javascript (native receiver turned off)';
      return undefined;
    }
    if (o.playback.startNative === undefined || o.playback.canStartNative?.() !== true) {
      this.#receivePath = 'javascript (the playback device has no native path)';
      return undefined;
    }
    const r = o.transport.openNativeReceiver?.(engineJitterOptions(s.jbMinMs, s.jbMaxMs));
    if (r === undefined || typeof r === 'string') {
      this.#receivePath = `javascript (${r ?? 'the transport has no native path'})`;
      return undefined;
    }
    this.#receivePath = 'native';
    this.#jb = nativeJitterBufferView(r.receiver);
    if (o.probes?.played !== undefined) {
      r.receiver.setProbing(true);
      this.#probeTimer ??= setInterval(() => this.#takeProbes(), 100);
    }
    return r;
  }

  /** Hands the native threads' per-frame and per-tick records to the probes. */
  #takeProbes(): void {
    const p = this.#o.probes;
    if (p === undefined) return;
    for (const f of this.#native?.takeProbes() ?? []) {
      this.#firstPacket = false;
      p.captured?.(undefined, f.clockSamples, f.capturedAtMs);
      p.sent?.(f.clockSamples, f.sentAtMs);
    }
    if (p.played !== undefined && this.#rx !== undefined && !this.#rx.receiver.closed) {
      for (const t of this.#rx.receiver.takeProbes()) {
        p.played(t.pcm, t.clockSamples, t.pulledAtMs, pullDecision(t.decision));
      }
    }
  }

  /** Packets the native receiver buffered: receive statistics and probes, in arrival order. */
  #onRecords(records: ReceivedPacketRecord[]): void {
    if (!this.#running) return;
    const probes = this.#o.probes;
    for (const r of records) {
      this.#rtpStats.onPacket(r, r.arrivalMs);
      probes?.received?.(
        {
          sequenceNumber: r.sequenceNumber,
          timestamp: r.timestamp,
          ssrc: r.ssrc,
          marker: r.marker,
          payloadType: r.payloadType,
          payload: EMPTY,
          sizeBytes: r.payloadBytes + r.headerBytes,
        },
        r.arrivalMs,
      );
    }
  }

  #onCapture(pcm: Int16Array, clockSamples: number): void {
    if (!this.#running) return;
    const now = this.#now();
    this.#captureClock = clockSamples + pcm.length;
    this.#o.probes?.captured?.(pcm, clockSamples, now);
    if (this.#settings.muted) pcm.fill(0);
    else if (this.#gainLinear !== 1) {
      const g = this.#gainLinear;
      for (let i = 0; i < pcm.length; i++) {
        const v = (pcm[i] ?? 0) * g;
        pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    const payload = this.#o.encoder.encode(pcm);
    // RFC 7587 §4.1: the RTP timestamp counts 48 kHz samples; we use the capture frame clock.
    this.#o.transport.sendOpus(payload, clockSamples, this.#firstPacket);
    this.#firstPacket = false;
    this.#o.probes?.sent?.(clockSamples, this.#now());
  }

  #onRtp(p: ReceivedRtp): void {
    if (!this.#running) return;
    const now = this.#now();
    this.#o.probes?.received?.(p, now);
    this.#rtpStats.onPacket(p, now);
    this.#o.jitterBuffer.push(p, now);
    // Play it from this wakeup: top the device queue up by the packet's duration plus a margin
    // for the next packet's arrival jitter, so the device's own timer (which would pull before
    // that packet is here, and conceal) does not fire in between. docs/engine.md "Playout".
    const toc = parseOpusToc(p.payload);
    const frameMs = toc.ok ? Math.min(120, toc.value.durationMs) : this.#settings.frameMs;
    this.#o.playback.service?.(frameMs + ARRIVAL_MARGIN_MS);
  }

  async #snapshot(): Promise<QosSnapshot> {
    const o = this.#o;
    const now = this.#now();
    let ts: TransportStats;
    try {
      ts = await o.transport.stats();
    } catch {
      ts = {
        rttMs: undefined,
        remoteFractionLost: undefined,
        remotePacketsLost: undefined,
        packetsSent: 0,
        bytesSent: this.#prev.bytesSent,
        packetsReceived: 0,
        bytesReceived: this.#prev.bytesReceived,
        packetsReplayed: 0,
        path: 'unknown',
        localCandidateType: undefined,
        remoteCandidateType: undefined,
      };
    }
    // Loss as exact percentages of the packets expected (not the 8-bit RTCP fraction).
    const interval = this.#rtpStats.reportInterval();
    const rx = this.#rtpStats.snapshot();
    const dReceived = interval.received;
    const lossPct =
      interval.expected > 0
        ? Math.max(0, (100 * (interval.expected - interval.received)) / interval.expected)
        : 0;
    const lost = rx.cumulativeLost;
    const cumulativeLossPct = rx.packetsExpected > 0 ? (100 * lost) / rx.packetsExpected : 0;
    const dt = Math.max(1, now - this.#prev.tMs) / 1000;
    const sendKbps = ((ts.bytesSent - this.#prev.bytesSent) * 8) / 1000 / dt;
    const recvKbps = ((ts.bytesReceived - this.#prev.bytesReceived) * 8) / 1000 / dt;
    const jb = this.#jb.snapshot();
    const latePackets = Math.max(0, jb.latePackets - this.#prev.late);
    this.#prev = {
      bytesSent: ts.bytesSent,
      bytesReceived: ts.bytesReceived,
      tMs: now,
      late: jb.latePackets,
    };
    const jitterMs = rx.jitterMs;
    const s = this.#settings;
    const rttMs = ts.rttMs ?? null;
    // One-way mouth-to-ear estimate: half the RTT (network), the buffer, one frame of
    // packetisation and one device period each side.
    const oneWayDelayMs = (rttMs ?? 0) / 2 + jb.delayMs + s.frameMs + 2 * s.periodMs;
    // G.107 Ppl is the loss the decoder has to conceal: packets rebuilt from in-band FEC are not
    // counted (they lose some quality, which G.107 has no term for; noted in docs/engine.md).
    const residual = lost === 0 ? 0 : Math.max(0, lost - jb.fecRecovered) / lost;
    const q = o.quality.assess({
      oneWayDelayMs,
      lossPct: cumulativeLossPct * residual,
      burstRatio: 1,
      bitrateBps: s.bitrateBps,
      fec: s.fec,
    });
    const remoteLossPct = ts.remoteFractionLost === undefined ? null : ts.remoteFractionLost * 100;
    let suggestions: Suggestion[] = [];
    const adapted = o.quality.adapt({
      remoteLossPct: remoteLossPct ?? 0,
      lossPct,
      jitterMs,
      rttMs: rttMs ?? 0,
      oneWayDelayMs,
      latePackets,
      jbTargetMs: jb.targetMs,
      bitrateBps: s.bitrateBps,
      fec: s.fec,
      expectedLossPct: s.expectedLossPct,
      frameMs: s.frameMs,
      jbMinMs: s.jbMinMs,
    });
    suggestions = adapted.suggestions;
    if (s.adapt && this.#running) {
      const c = adapted.changes;
      this.update({
        ...s,
        ...(c.bitrateBps === undefined ? {} : { bitrateBps: c.bitrateBps }),
        ...(c.fec === undefined ? {} : { fec: c.fec }),
        ...(c.expectedLossPct === undefined ? {} : { expectedLossPct: c.expectedLossPct }),
        ...(c.frameMs === undefined ? {} : { frameMs: c.frameMs }),
        ...(c.jbMinMs === undefined
          ? {}
          : { jbMinMs: c.jbMinMs, jbMaxMs: Math.max(c.jbMinMs, s.jbMaxMs) }),
      });
    }
    this.#suggestions = suggestions;
    const snap: QosSnapshot = {
      kind: 'qos',
      tMs: Math.round(now - this.#startedMs),
      path: ts.path,
      rttMs: rttMs === null ? null : round1(rttMs),
      lossPct: round1(lossPct),
      cumulativeLossPct: round1(cumulativeLossPct),
      remoteLossPct: remoteLossPct === null ? null : round1(remoteLossPct),
      jitterMs: round1(jitterMs),
      sendKbps: round1(sendKbps),
      recvKbps: round1(recvKbps),
      recvPackets: dReceived,
      jitterBuffer: { ...jb, delayMs: round1(jb.delayMs), targetMs: round1(jb.targetMs) },
      rFactor: round1(q.rFactor),
      mos: Math.round(q.mos * 100) / 100,
      grade: q.grade,
      suggestions: this.#suggestions,
      settings: this.settings,
    };
    this.#lastSnapshot = snap;
    if (this.#running) o.onSnapshot?.(snap);
    return snap;
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
