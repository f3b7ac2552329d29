/**
 * The RTP receive path of a call, in C: a thread reads the call's ICE socket, opens SRTP
 * AEAD_AES_128_GCM (RFC 7714) and inserts the packets into the adaptive jitter buffer (the C port
 * of `@parloir/media`'s, jitter.c); the playback device pulls decoded ticks from it on its own
 * thread — the receiver's paced thread for `wav:`/`null` ({@link NativeRtpReceiver.startPaced}),
 * or an ALSA playback stream's ({@link PcmPlayback.attachReceiver}). JavaScript is not woken per
 * packet.
 *
 * The transport (ICE, DTLS, RTCP) stays werift's. The caller stops libuv's reading of werift's
 * socket ({@link setUdpReading}); every datagram the receiver does not take (STUN, DTLS, RTCP,
 * another address or payload type, the first packet of an SSRC) comes back through `onDatagram`
 * on the JavaScript thread, to be handed to werift as if libuv had read it. The caller tells the
 * receiver which SSRCs werift has seen ({@link NativeRtpReceiver.learnSsrc}) and reads a record
 * per packet ({@link NativeRtpReceiver.takeRecords}) for werift's RTCP receiver statistics.
 * @module
 */
import { addon, type RawRtpReceiver } from './addon.ts';
import { NativeError } from './errors.ts';
import type {
  NativeJitterBufferOptions,
  NativeJitterBufferStats,
  NativePlayoutDecision,
} from './jitter.ts';
import { ipAddressBytes } from './udp.ts';

/** Codes raised by {@link NativeRtpReceiver}. */
export type RtpReceiverErrorCode =
  'RECEIVER_ERR_BAD_ARG' | 'RECEIVER_ERR_CLOSED' | 'RECEIVER_ERR_STATE' | 'RECEIVER_ERR_INTERNAL';

/** A {@link NativeRtpReceiver} call failed: bad option, use after close, setup failure. */
export class RtpReceiverError extends NativeError {
  declare readonly code: RtpReceiverErrorCode;
  constructor(code: RtpReceiverErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RtpReceiverError';
  }
}

const CODES = new Set<string>([
  'RECEIVER_ERR_BAD_ARG',
  'RECEIVER_ERR_CLOSED',
  'RECEIVER_ERR_STATE',
  'RECEIVER_ERR_INTERNAL',
]);

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    const raw: unknown =
      err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
    const code =
      typeof raw === 'string' && CODES.has(raw) ? (raw as RtpReceiverErrorCode) : undefined;
    const message = err instanceof Error ? err.message : String(err);
    throw new RtpReceiverError(code ?? 'RECEIVER_ERR_BAD_ARG', message, { cause: err });
  }
}

/**
 * The jitter buffer's options the receiver takes (the rest keep their defaults), as
 * {@link NativeJitterBuffer}'s of the same names.
 */
export type NativeJitterOptions = Required<
  Pick<
    NativeJitterBufferOptions,
    | 'tickMs'
    | 'minDelayMs'
    | 'maxDelayMs'
    | 'inOrderQuantile'
    | 'accelerateAtTicks'
    | 'initialDelayMs'
  >
>;

/** Options of {@link NativeRtpReceiver}: the socket edge, or insert-only (the werift edge). */
export type NativeRtpReceiverOptions = NativeSocketReceiverOptions | NativeInsertReceiverOptions;

/**
 * The werift edge: no socket and no SRTP here; werift opens every packet and the caller hands
 * it to {@link NativeRtpReceiver.insert}. The jitter buffer, decoding and playout stay in C.
 */
export interface NativeInsertReceiverOptions {
  /** Jitter-buffer options. */
  jitter: NativeJitterOptions;
}

/** The socket edge: a C thread reads a duplicate of the call's ICE socket and opens SRTP. */
export interface NativeSocketReceiverOptions {
  /** File descriptor of the bound UDP socket to read (werift's ICE socket); duplicated. */
  fd: number;
  /** The selected remote candidate's IP address: only its RTP is taken. */
  address: string;
  /** Its UDP port. */
  port: number;
  /** Negotiated RTP payload types of the audio (Opus). */
  payloadTypes: number[];
  /** The remote SRTP session key, 16 or 32 bytes (AES-GCM, RFC 7714 §12). */
  key: Uint8Array;
  /** The remote SRTP session salt, 12 bytes. */
  salt: Uint8Array;
  /** Jitter-buffer options. */
  jitter: NativeJitterOptions;
  /**
   * The relayed edge: the TURN channel (0x4000..0x7fff) our client bound to the peer; `address`
   * and `port` are then the TURN server's, and the call's SRTP is taken from its ChannelData on
   * that channel (RFC 8656 §12.4), unwrapped. Absent: direct, from the peer itself.
   */
  channel?: number;
  /**
   * Each datagram the receiver does not take, on the JavaScript thread, with its source. Errors
   * it throws are swallowed: catch your own.
   */
  onDatagram: (data: Buffer, address: string, port: number, family: 'IPv4' | 'IPv6') => void;
}

/** A packet opened elsewhere, for {@link NativeRtpReceiver.insert}. */
export interface ReceiverInsertPacket {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payloadType: number;
  /** Opus payload (padding removed). */
  payload: Uint8Array;
  /** RTP header bytes. */
  headerBytes: number;
  /** The rollover counter it was authenticated with (RFC 3711 §3.3.1): with the sequence number, its index for the replay list. */
  rolloverCounter: number;
}

/** One packet the receiver buffered (for RTCP receiver statistics and QoS). */
export interface ReceivedPacketRecord {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payloadType: number;
  /** Payload bytes (padding removed). */
  payloadBytes: number;
  /** RTP header bytes. */
  headerBytes: number;
  /** `performance.now()` (ms) when it was read from the socket. */
  arrivalMs: number;
  /** Buffered through {@link NativeRtpReceiver.insert}, not read by the receiver's thread. */
  inserted: boolean;
}

/** Counters of a {@link NativeRtpReceiver}. */
export interface RtpReceiverStats {
  /** The jitter buffer's counters. */
  jitterBuffer: NativeJitterBufferStats;
  /** RTP packets buffered (read here or inserted). */
  packets: number;
  /** Their payload bytes. */
  payloadBytes: number;
  /** Packets dropped because their SRTP tag did not verify. */
  authFailures: number;
  /**
   * Packets dropped before the jitter buffer because their index had been received already
   * (RFC 3711 §3.3.2 replay list; read here or inserted).
   */
  replayed: number;
  /** Packets dropped because they were more than 128 behind the highest index received. */
  tooOld: number;
  /** Datagrams handed to `onDatagram`. */
  forwarded: number;
  /** Datagrams dropped because JavaScript had 256 waiting. */
  forwardDropped: number;
  /** Socket read errors. */
  socketErrors: number;
  /** Device samples pulled so far (the playback device clock). */
  playedSamples: number;
  /** Paced device: silence played because the buffer was not pulled in time, samples. */
  silenceSamples: number;
  /** Paced device: samples pulled but not played yet. */
  queuedSamples: number;
  /** Paced device: `performance.now()` (ms) when device sample 0 played, else undefined. */
  startedAtMs: number | undefined;
}

/** One tick the playback device pulled (latency breakdown, with {@link setProbing}). */
export interface RtpReceiverProbe {
  /** Device clock of the tick's first sample, samples. */
  clockSamples: number;
  /** `performance.now()` (ms) of the pull. */
  pulledAtMs: number;
  /** The jitter buffer's decision: 'normal', 'fec', 'plc', 'accelerate', 'expand', 'reset', 'buffering'. */
  decision: NativePlayoutDecision;
  /** The tick's audio (48 kHz mono). */
  pcm: Int16Array;
}

const DECISIONS: readonly NativePlayoutDecision[] = [
  'normal',
  'fec',
  'plc',
  'accelerate',
  'expand',
  'reset',
  'buffering',
];
const RECORD_FIELDS = 10;

/** A call's RTP receive path in C (see the module comment). */
export class NativeRtpReceiver {
  #raw: RawRtpReceiver;
  #closed = false;
  /** `performance.now()` minus the monotonic clock the C side stamps with, ms (both count the
   * same CLOCK_MONOTONIC, so it is read once). */
  #offsetMs: number;

  constructor(options: NativeRtpReceiverOptions) {
    if (!('fd' in options)) {
      this.#raw = call(
        () =>
          new addon.NativeRtpReceiver(
            {
              // No socket: start() is refused, packets come through insert().
              fd: -1,
              address: new Uint8Array(4),
              port: 1,
              payloadTypes: Uint8Array.of(0),
              key: new Uint8Array(16),
              salt: new Uint8Array(12),
              jitter: { ...options.jitter },
            },
            () => {},
          ),
      );
      this.#offsetMs = performance.now() - this.#raw.stats().nowMonotonicMs;
      return;
    }
    const address = ipAddressBytes(options.address);
    if (address === undefined) {
      throw new RtpReceiverError('RECEIVER_ERR_BAD_ARG', `not an IP address: '${options.address}'`);
    }
    const onDatagram = options.onDatagram;
    this.#raw = call(
      () =>
        new addon.NativeRtpReceiver(
          {
            fd: options.fd,
            address,
            port: options.port,
            payloadTypes: Uint8Array.from(options.payloadTypes),
            key: options.key,
            salt: options.salt,
            jitter: { ...options.jitter },
            channel: options.channel,
          },
          (data, addr, port, family) => {
            try {
              onDatagram(data, addr, port, family === 'IPv6' ? 'IPv6' : 'IPv4');
            } catch {
              // The listener's own failure; the receiver goes on.
            }
          },
        ),
    );
    this.#offsetMs = performance.now() - this.#raw.stats().nowMonotonicMs;
  }

  /** @internal The addon object, for `PcmPlayback.attachReceiver`. */
  get raw(): RawRtpReceiver {
    return this.#raw;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the socket thread. Stop libuv's reading of the socket first. */
  start(): void {
    call(() => this.#raw.start());
  }

  /**
   * Plays out on the receiver's own thread, paced on the monotonic clock like a sound card with
   * a one-period buffer (`wav:`/`null` devices). With `keepPcm`, the played audio, silence
   * included, waits for {@link takePcm} (at most 2.7 s of it).
   */
  startPaced(keepPcm: boolean): void {
    call(() => this.#raw.startPaced(keepPcm));
  }

  /** The paced device's period, samples at 48 kHz. */
  setPeriodSamples(samples: number): void {
    call(() => this.#raw.setPeriodSamples(samples));
  }

  /** The jitter buffer's delay bounds, ms. */
  setBounds(minMs: number, maxMs: number): void {
    call(() => this.#raw.setBounds(minMs, maxMs));
  }

  /** Output volume, linear 0..4 (1 = as decoded); applied to what plays from the next tick. */
  setVolume(linear: number): void {
    call(() => this.#raw.setVolumeQ16(Math.round(Math.min(4, Math.max(0, linear)) * 65536)));
  }

  /**
   * From now on packets of `ssrc` are opened here, continuing werift's ROC state (a known SSRC's
   * state only moves forward). `received`: packet indices (ROC · 2^16 + SEQ) already received on
   * another path, for the SSRC's replay list (RFC 3711 §3.3.2).
   */
  learnSsrc(
    ssrc: number,
    rolloverCounter: number,
    lastSequenceNumber: number,
    received?: readonly number[],
  ): void {
    const list = received === undefined ? undefined : Float64Array.from(received);
    call(() => this.#raw.learnSsrc(ssrc, rolloverCounter, lastSequenceNumber, list));
  }

  /** The ROC state of each SSRC opened here (to hand back to werift at the end). */
  ssrcStates(): { ssrc: number; rolloverCounter: number; lastSequenceNumber: number }[] {
    const t = call(() => this.#raw.ssrcStates());
    const out = [];
    for (let i = 0; i + 2 < t.length; i += 3) {
      out.push({
        ssrc: t[i] ?? 0,
        rolloverCounter: t[i + 1] ?? 0,
        lastSequenceNumber: t[i + 2] ?? 0,
      });
    }
    return out;
  }

  /**
   * Buffers a packet received elsewhere (werift's path), as if it arrived now, unless the
   * replay list of its SSRC (once learnt) has its index or it is too old.
   * @returns whether it was buffered
   */
  insert(packet: ReceiverInsertPacket): boolean {
    const p = packet;
    return call(() =>
      this.#raw.insert(
        p.sequenceNumber,
        p.timestamp,
        p.ssrc,
        p.marker,
        p.payloadType,
        p.payload,
        p.headerBytes,
        p.rolloverCounter,
      ),
    );
  }

  /** The packets buffered since the last call (at most the last 4,096). */
  takeRecords(): ReceivedPacketRecord[] {
    const t = call(() => this.#raw.takeRecords());
    const offset = this.#offsetMs;
    const out: ReceivedPacketRecord[] = [];
    for (let i = 0; i + RECORD_FIELDS <= t.length; i += RECORD_FIELDS) {
      out.push({
        sequenceNumber: t[i] ?? 0,
        timestamp: t[i + 1] ?? 0,
        ssrc: t[i + 2] ?? 0,
        marker: t[i + 3] === 1,
        payloadType: t[i + 4] ?? 0,
        payloadBytes: t[i + 5] ?? 0,
        headerBytes: t[i + 6] ?? 0,
        arrivalMs: (t[i + 7] ?? 0) + offset,
        inserted: t[i + 9] === 1,
      });
    }
    return out;
  }

  /** The audio the paced device played since the last call (with `keepPcm`). */
  takePcm(): Int16Array {
    return call(() => this.#raw.takePcm());
  }

  /** Records every pulled tick from now on (see {@link takeProbes}). */
  setProbing(on: boolean): void {
    call(() => this.#raw.setProbing(on));
  }

  /** The ticks pulled since the last call (at most the last 512). */
  takeProbes(): RtpReceiverProbe[] {
    const t = call(() => this.#raw.takeProbes());
    if (t === null) return [];
    const offset = this.#offsetMs;
    const n = t.meta.length / 3;
    const tick = n > 0 ? t.pcm.length / n : 0;
    const out: RtpReceiverProbe[] = [];
    for (let i = 0; i < n; i++) {
      out.push({
        clockSamples: t.meta[3 * i] ?? 0,
        pulledAtMs: (t.meta[3 * i + 1] ?? 0) + offset,
        decision: DECISIONS[t.meta[3 * i + 2] ?? 0] ?? 'normal',
        pcm: t.pcm.subarray(i * tick, (i + 1) * tick),
      });
    }
    return out;
  }

  /** Counters, with times on `performance.now()`. */
  stats(): RtpReceiverStats {
    const r = call(() => this.#raw.stats());
    const offset = this.#offsetMs;
    return {
      jitterBuffer: r.jitterBuffer as unknown as NativeJitterBufferStats,
      packets: r.packets,
      payloadBytes: r.payloadBytes,
      authFailures: r.authFailures,
      replayed: r.replayed,
      tooOld: r.tooOld,
      forwarded: r.forwarded,
      forwardDropped: r.forwardDropped,
      socketErrors: r.socketErrors,
      playedSamples: r.playedSamples,
      silenceSamples: r.silenceSamples,
      queuedSamples: r.queuedSamples,
      startedAtMs: r.startMonotonicMs < 0 ? undefined : r.startMonotonicMs + offset,
    };
  }

  /** Stops both threads and gives the socket back; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close();
  }
}
