/**
 * The call engine: runs one call's media pipeline (the C pipeline behind {@link CallPipeline}:
 * capture → gain/mute → Opus → RTP → SRTP → network edge, and back to the speaker), changes its
 * settings mid-call without renegotiation, and once a second builds a QoS snapshot from the
 * pipeline's counters and, if adaptation is on, applies the policy's changes.
 */
import { SETTING_NAMES } from '@parloir/protocol';
import { RtpReceiveStats } from '@parloir/media';
import type { CallSettings, QosSnapshot, Suggestion } from '../qos-log/qos-log.ts';
import type { ReceivedRtp, TransportStats } from '../transport/peer-transport.ts';
import { EngineError } from './errors.ts';
import type {
  AudioProcessingSettings,
  CallPipeline,
  PacketRecord,
  PullDecision,
  QualityModelPort,
} from './ports.ts';

const SAMPLES_PER_MS = 48;
/** The payload of a probe's packet (the payload stays in C). */
const EMPTY = Buffer.alloc(0);

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
  volumePct: 100,
};

/** Optional probes, for the latency benchmark and tests. Read from C every 100 ms. */
export interface EngineProbes {
  /** A frame was captured (`clockSamples` = its capture clock); `pcm` stays in C (undefined). */
  captured?(pcm: Int16Array | undefined, clockSamples: number, nowMs: number): void;
  /** A frame was encoded and handed to the network edge. */
  sent?(rtpTimestamp: number, nowMs: number): void;
  /** An RTP packet arrived (its payload stays in C: empty here). */
  received?(p: ReceivedRtp, nowMs: number): void;
  /** One tick was written to the playback device (`clockSamples` = its playback clock). */
  played?(out: Int16Array, clockSamples: number, nowMs: number, decision: PullDecision): void;
}

/** Options of {@link CallEngine}. */
export interface CallEngineOptions {
  /** The call's media pipeline (not started; the engine starts it). */
  pipeline: CallPipeline;
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
}

/** Names accepted by {@link CallEngine.set} (`set bitrate 24k`): the control API's list. */
export { SETTING_NAMES, type SettingName } from '@parloir/protocol';

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
    case 'volume':
      return { ...s, volumePct: parseNum(name, v.replace(/%$/, ''), 0, 400) };
    case 'aec':
      return { ...s, aec: parseBool(name, v) };
    case 'ns':
      return { ...s, ns: parseBool(name, v) };
    case 'agc':
      return { ...s, agc: parseBool(name, v) };
    case 'aec-level':
      if (v !== 'low' && v !== 'moderate' && v !== 'high') {
        throw new EngineError(
          'ENGINE_ERR_BAD_SETTING',
          `aec-level: expected low, moderate or high`,
        );
      }
      return { ...s, aecLevel: v };
    case 'ns-level':
      if (!/^[0-3]$/.test(v)) {
        throw new EngineError('ENGINE_ERR_BAD_SETTING', `ns-level: expected 0, 1, 2 or 3`);
      }
      return { ...s, nsLevel: Number(v) };
    case 'audio-engine':
      if (v !== 'webrtc' && v !== 'speex') {
        throw new EngineError('ENGINE_ERR_BAD_SETTING', `audio-engine: expected webrtc or speex`);
      }
      return { ...s, audioEngine: v };
    default:
      throw new EngineError(
        'ENGINE_ERR_BAD_SETTING',
        `unknown setting '${name}' (one of ${SETTING_NAMES.join(', ')})`,
      );
  }
}

/**
 * The capture's audio processing from the settings: what is absent is off (createEngine fills
 * the device's defaults), level 'low' for the echo canceller (bench:aec: the level that keeps
 * near-end speech in double talk), noise suppression level 2, the webrtc engine.
 */
export function audioProcessing(s: CallSettings): AudioProcessingSettings {
  return {
    engine: s.audioEngine ?? 'webrtc',
    aec: s.aec ?? false,
    ns: s.ns ?? false,
    agc: s.agc ?? false,
    aecLevel: s.aecLevel ?? 'low',
    nsLevel: s.nsLevel ?? 2,
  };
}

/** One running call's media. */
export class CallEngine {
  #o: CallEngineOptions;
  #now: () => number;
  #settings: CallSettings;
  #running = false;
  #startedMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #offRecords: (() => void) | undefined;
  /** Receive-side statistics (RFC 3550 §A.3 loss, §A.8 jitter): the media core's. */
  readonly #rtpStats = new RtpReceiveStats(SAMPLES_PER_MS * 1000);
  #prev = { bytesSent: 0, bytesReceived: 0, tMs: 0, late: 0 };
  #lastSnapshot: QosSnapshot | undefined;
  #suggestions: Suggestion[] = [];
  #probeTimer: NodeJS.Timeout | undefined;

  constructor(options: CallEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#settings = { ...DEFAULT_SETTINGS, ...options.settings };
  }

  /** Settings in force. */
  get settings(): CallSettings {
    return { ...this.#settings };
  }

  /** Capture device clock at the last frame captured, ms since the capture started. */
  get captureClockMs(): number {
    return this.#o.pipeline.captureClockSamples / SAMPLES_PER_MS;
  }

  /** Frames go from the capture thread through C to the network edge: always `native`. */
  get sendPath(): string {
    return 'native';
  }

  /** Packets go from the network edge through C to the speaker: always `native`. */
  get receivePath(): string {
    return 'native';
  }

  /** The pipeline's network edge: `direct`, `relayed`, or `werift (why)`. */
  get edge(): string {
    return this.#o.pipeline.edge;
  }

  /** When werift or Node internals the direct edge needs changed: the typed error. */
  get edgeError(): { code: string; message: string } | undefined {
    return this.#o.pipeline.edgeError;
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
      captureMs: wall(this.#o.pipeline.captureStartedAtMs),
      playbackMs: wall(this.#o.pipeline.playbackStartedAtMs),
    };
  }

  /** The last snapshot, if any. */
  get lastSnapshot(): QosSnapshot | undefined {
    return this.#lastSnapshot;
  }

  /** Starts the pipeline and the once-a-second snapshot. */
  start(): void {
    if (this.#running) return;
    const o = this.#o;
    const s = this.#settings;
    const p = o.probes;
    const probing = p?.captured !== undefined || p?.sent !== undefined || p?.played !== undefined;
    o.pipeline.start(
      { frameMs: s.frameMs, bitrateBps: s.bitrateBps, jbMinMs: s.jbMinMs, jbMaxMs: s.jbMaxMs },
      probing,
    );
    this.#running = true;
    this.#startedMs = this.#now();
    this.#prev.tMs = this.#startedMs;
    this.#applyAll();
    this.#offRecords = o.pipeline.onRecords((r) => this.#onRecords(r));
    if (probing) this.#probeTimer = setInterval(() => this.#takeProbes(), 100);
    this.#timer = setInterval(() => void this.#snapshot(), o.snapshotMs ?? 1000);
  }

  /** Changes one setting by name and textual value (`set frame 10`). Returns the new settings. */
  set(name: string, value: string): CallSettings {
    this.update(applySetting(this.#settings, name, value));
    return this.settings;
  }

  /** Replaces settings, pushing each difference to the pipeline. */
  update(next: CallSettings): void {
    const prev = this.#settings;
    this.#settings = { ...next };
    if (!this.#running) return;
    const pl = this.#o.pipeline;
    if (next.bitrateBps !== prev.bitrateBps) pl.setBitrate(next.bitrateBps);
    if (next.fec !== prev.fec) pl.setFec(next.fec);
    if (next.expectedLossPct !== prev.expectedLossPct) pl.setExpectedLoss(next.expectedLossPct);
    if (next.dtx !== prev.dtx) pl.setDtx(next.dtx);
    if (next.frameMs !== prev.frameMs) pl.setFrameSamples(next.frameMs * SAMPLES_PER_MS);
    if (next.gainDb !== prev.gainDb || next.muted !== prev.muted) this.#setGain(next);
    if (next.periodMs !== prev.periodMs) pl.setPeriodMs(next.periodMs);
    if (next.jbMinMs !== prev.jbMinMs || next.jbMaxMs !== prev.jbMaxMs) {
      pl.setBounds(next.jbMinMs, next.jbMaxMs);
    }
    if (next.volumePct !== prev.volumePct) pl.setVolume((next.volumePct ?? 100) / 100);
    const ap = audioProcessing(next);
    if (JSON.stringify(ap) !== JSON.stringify(audioProcessing(prev))) pl.setAudioProcessing(ap);
  }

  /** Replaces the capture device during the call, without renegotiation (alsa: to alsa:). */
  async switchCapture(spec: string): Promise<void> {
    if (!this.#running) throw new EngineError('ENGINE_ERR_NOT_RUNNING', 'no call running');
    await this.#o.pipeline.switchCapture(spec);
  }

  /** Replaces the playback device during the call (alsa: to alsa:), same jitter buffer. */
  async switchPlayback(spec: string): Promise<void> {
    if (!this.#running) throw new EngineError('ENGINE_ERR_NOT_RUNNING', 'no call running');
    await this.#o.pipeline.switchPlayback(spec);
  }

  /** Stops the pipeline and closes the devices. Idempotent. Returns the media duration, ms. */
  async stop(): Promise<number> {
    if (!this.#running) return 0;
    this.#running = false;
    clearInterval(this.#timer);
    clearInterval(this.#probeTimer);
    this.#takeProbes();
    this.#offRecords?.();
    await this.#o.pipeline.stop();
    return this.#now() - this.#startedMs;
  }

  /** Builds a snapshot now (also called once a second). */
  async snapshotNow(): Promise<QosSnapshot> {
    return this.#snapshot();
  }

  #applyAll(): void {
    const s = this.#settings;
    const pl = this.#o.pipeline;
    pl.setBitrate(s.bitrateBps);
    pl.setFec(s.fec);
    pl.setExpectedLoss(s.expectedLossPct);
    pl.setDtx(s.dtx);
    pl.setFrameSamples(s.frameMs * SAMPLES_PER_MS);
    this.#setGain(s);
    pl.setPeriodMs(s.periodMs);
    pl.setBounds(s.jbMinMs, s.jbMaxMs);
    pl.setVolume((s.volumePct ?? 100) / 100);
    pl.setAudioProcessing(audioProcessing(s));
  }

  #setGain(s: CallSettings): void {
    this.#o.pipeline.setGain(10 ** (s.gainDb / 20));
    this.#o.pipeline.setMuted(s.muted);
  }

  /** Hands the C threads' per-frame and per-tick records to the probes. */
  #takeProbes(): void {
    const p = this.#o.probes;
    if (p === undefined) return;
    const { frames, ticks } = this.#o.pipeline.takeProbes();
    for (const f of frames) {
      p.captured?.(undefined, f.clockSamples, f.capturedAtMs);
      p.sent?.(f.clockSamples, f.sentAtMs);
    }
    for (const t of ticks) p.played?.(t.pcm, t.clockSamples, t.pulledAtMs, t.decision);
  }

  /** Packets the pipeline buffered: receive statistics and probes, in arrival order. */
  #onRecords(records: PacketRecord[]): void {
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

  async #snapshot(): Promise<QosSnapshot> {
    const o = this.#o;
    const now = this.#now();
    let ts: TransportStats;
    try {
      ts = await o.pipeline.stats();
    } catch {
      ts = {
        rttMs: undefined,
        remoteFractionLost: undefined,
        remotePacketsLost: undefined,
        packetsSent: 0,
        bytesSent: this.#prev.bytesSent,
        packetsReceived: 0,
        bytesReceived: this.#prev.bytesReceived,
        packetsReplayed: this.#lastSnapshot?.packetsReplayed ?? 0,
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
    const jb = o.pipeline.jitterSnapshot();
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
      ...(ts.pathState === undefined ? {} : { pathState: ts.pathState }),
      ...(ts.iceRestarts === undefined ? {} : { iceRestarts: ts.iceRestarts }),
      rttMs: rttMs === null ? null : round1(rttMs),
      lossPct: round1(lossPct),
      cumulativeLossPct: round1(cumulativeLossPct),
      remoteLossPct: remoteLossPct === null ? null : round1(remoteLossPct),
      jitterMs: round1(jitterMs),
      sendKbps: round1(sendKbps),
      recvKbps: round1(recvKbps),
      recvPackets: dReceived,
      packetsReplayed: ts.packetsReplayed,
      jitterBuffer: { ...jb, delayMs: round1(jb.delayMs), targetMs: round1(jb.targetMs) },
      rFactor: round1(q.rFactor),
      mos: Math.round(q.mos * 100) / 100,
      grade: q.grade,
      suggestions: this.#suggestions,
      settings: this.settings,
      inputLevelDb: round1(20 * Math.log10(Math.max(1, o.pipeline.takeInputPeak()) / 32768)),
    };
    const echo = o.pipeline.echoState();
    if (echo !== undefined) snap.echo = echo;
    this.#lastSnapshot = snap;
    if (this.#running) o.onSnapshot?.(snap);
    return snap;
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
