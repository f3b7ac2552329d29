/**
 * The RTP send path of a call, in C on a thread of its own: PCM frames → gain/mute → Opus →
 * RTP (RFC 3550, RFC 7587) → SRTP AEAD_AES_128_GCM (RFC 7714) → `sendto()` on the call's ICE
 * socket, without waking JavaScript per frame. The frames come either from the sender's own
 * thread pacing a PCM source on the monotonic clock like a sound card ({@link
 * NativeRtpSender.startPaced}, for `wav:` and `null` devices) or from an ALSA capture stream's
 * thread ({@link AlsaCapture.attachSender}).
 *
 * The transport (ICE, DTLS, RTCP, the receive side) stays werift's: the caller hands in the
 * socket's file descriptor (duplicated here, so it stays valid until {@link
 * NativeRtpSender.close}), the selected remote address, the SSRC, sequence number, ROC and
 * timestamp offset to continue from, and the SRTP session key and salt.
 *
 * The werift edge ({@link NativeFrameSenderOptions}): no socket; each encoded frame goes to
 * `onFrame` on the JavaScript thread, where werift makes the RTP packet, seals it and sends it
 * (relayed pairs, other SRTP profiles). Capture, gain, mute and Opus stay in C either way.
 * @module
 */
import { addon, type RawRtpSender } from './addon.ts';
import { NativeError } from './errors.ts';
import { ipAddressBytes } from './udp.ts';

/** Codes raised by {@link NativeRtpSender}. */
export type RtpSenderErrorCode =
  'SENDER_ERR_BAD_ARG' | 'SENDER_ERR_CLOSED' | 'SENDER_ERR_STATE' | 'SENDER_ERR_INTERNAL';

/** A {@link NativeRtpSender} call failed: bad option, use after close, setup failure. */
export class RtpSenderError extends NativeError {
  declare readonly code: RtpSenderErrorCode;
  constructor(code: RtpSenderErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RtpSenderError';
  }
}

const CODES = new Set<string>([
  'SENDER_ERR_BAD_ARG',
  'SENDER_ERR_CLOSED',
  'SENDER_ERR_STATE',
  'SENDER_ERR_INTERNAL',
]);

function fromRaw(err: unknown): RtpSenderError {
  const raw: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' && CODES.has(raw) ? (raw as RtpSenderErrorCode) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new RtpSenderError(code ?? 'SENDER_ERR_BAD_ARG', message, { cause: err });
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromRaw(err);
  }
}

/** Options of {@link NativeRtpSender}: the socket edge, or the werift edge. */
export type NativeRtpSenderOptions = NativeSocketSenderOptions | NativeFrameSenderOptions;

/**
 * The werift edge: frames are encoded in C and handed to `onFrame`, which sends them (werift's
 * RTP and SRTP). At most 64 frames wait for the JavaScript thread; more are dropped and counted
 * as `sendErrors` (ENOBUFS).
 */
export interface NativeFrameSenderOptions {
  /**
   * One encoded Opus frame, on the JavaScript thread: `clockSamples` is the capture clock of its
   * first sample (48 kHz; the caller adds its RTP timestamp offset), `marker` is set on the
   * first frame. Errors it throws are swallowed: catch your own.
   */
  onFrame: (payload: Buffer, clockSamples: number, marker: boolean) => void;
  /** Initial frame, samples at 48 kHz (120..2880, an Opus frame size). */
  frameSamples: number;
  /** Initial Opus bitrate, bit/s. */
  bitrateBps: number;
  /** Opus complexity 0..10; default 5. */
  complexity?: number;
}

/** The socket edge: RTP and SRTP in C, `sendto()` on a duplicate of the call's ICE socket. */
export interface NativeSocketSenderOptions {
  /** File descriptor of the bound UDP socket to send from (werift's ICE socket). */
  fd: number;
  /** Destination IP address (IPv4 or IPv6 literal). */
  address: string;
  /** Destination UDP port. */
  port: number;
  /** RTP SSRC. */
  ssrc: number;
  /** RTP payload type (Opus: the negotiated one, e.g. 111). */
  payloadType: number;
  /** Sequence number of the first packet. */
  sequenceNumber: number;
  /** SRTP rollover counter of the first packet (RFC 3711 §3.3.1). */
  rolloverCounter: number;
  /** Added to the capture clock (48 kHz samples) to make the RTP timestamp (RFC 3550 §5.1). */
  timestampOffset: number;
  /** SRTP session key for RTP, 16 or 32 bytes (AES-GCM, RFC 7714 §12). */
  key: Uint8Array;
  /** SRTP session salt, 12 bytes. */
  salt: Uint8Array;
  /** Initial frame, samples at 48 kHz (120..2880, an Opus frame size). */
  frameSamples: number;
  /** Initial Opus bitrate, bit/s. */
  bitrateBps: number;
  /** Opus complexity 0..10; default 5. */
  complexity?: number;
  /**
   * The relayed edge: the TURN channel (0x4000..0x7fff) our client bound to the peer; `address`
   * and `port` are then the TURN server's, and each packet goes to it as ChannelData
   * (RFC 8656 §12.4). Absent: direct, to the peer itself.
   */
  channel?: number;
}

/** Counters of a {@link NativeRtpSender}. */
export interface RtpSenderStats {
  /** RTP packets handed to the socket. */
  packets: number;
  /** Opus payload bytes in them (RTCP SR octet count, RFC 3550 §6.4.1). */
  payloadBytes: number;
  /** Frames not sent (encoder or socket errors); `lastErrno` tells the last reason. */
  sendErrors: number;
  /** errno of the last failure, 0 if none. */
  lastErrno: number;
  /** RTP timestamp of the last packet sent. */
  lastTimestamp: number;
  /** `performance.now()` (ms) when the last packet was sent, or undefined before one. */
  lastSentAtMs: number | undefined;
  /** Paced source: `performance.now()` (ms) of capture sample 0, or undefined. */
  startedAtMs: number | undefined;
  /** Samples fed so far (the capture clock). */
  clockSamples: number;
  /**
   * Encoded frames that carry in-band FEC (SILK LBRR data), read from each packet the encoder
   * produced (src/opus_lbrr.h): FEC's effect, not the setting asked for. Opus adds LBRR only with
   * FEC on, an expected loss above 0 and enough bitrate, and only in SILK or hybrid frames.
   */
  lbrrPackets: number;
}

/** When one frame went through the sender (latency breakdown). */
export interface RtpSenderProbe {
  /** Capture clock of the frame's first sample, samples. */
  clockSamples: number;
  /** `performance.now()` (ms) when its last sample had been captured. */
  capturedAtMs: number;
  /** `performance.now()` (ms) after `sendto()`. */
  sentAtMs: number;
}

/** A call's RTP send path in C (see the module comment). */
export class NativeRtpSender {
  #raw: RawRtpSender;
  #closed = false;

  constructor(options: NativeRtpSenderOptions) {
    if ('onFrame' in options) {
      const onFrame = options.onFrame;
      this.#raw = call(
        () =>
          new addon.NativeRtpSender(
            {
              // No socket, address or SRTP: the frames go to onFrame.
              fd: -1,
              address: new Uint8Array(4),
              port: 1,
              ssrc: 0,
              payloadType: 0,
              sequenceNumber: 0,
              rolloverCounter: 0,
              timestampOffset: 0,
              key: new Uint8Array(16),
              salt: new Uint8Array(12),
              frameSamples: options.frameSamples,
              bitrate: options.bitrateBps,
              complexity: options.complexity ?? 5,
            },
            (payload, clockSamples, marker) => {
              try {
                onFrame(payload, clockSamples, marker);
              } catch {
                // The listener's own failure; the sender goes on.
              }
            },
          ),
      );
      return;
    }
    const address = ipAddressBytes(options.address);
    if (address === undefined) {
      throw new RtpSenderError('SENDER_ERR_BAD_ARG', `not an IP address: '${options.address}'`);
    }
    this.#raw = call(
      () =>
        new addon.NativeRtpSender({
          fd: options.fd,
          address,
          port: options.port,
          ssrc: options.ssrc,
          payloadType: options.payloadType,
          sequenceNumber: options.sequenceNumber,
          rolloverCounter: options.rolloverCounter,
          timestampOffset: options.timestampOffset,
          key: options.key,
          salt: options.salt,
          frameSamples: options.frameSamples,
          bitrate: options.bitrateBps,
          complexity: options.complexity ?? 5,
          channel: options.channel,
        }),
    );
  }

  /** @internal The addon object, for `AlsaCapture.attachSender`. */
  get raw(): RawRtpSender {
    return this.#raw;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts the sender's own thread: it feeds `pcm` (48 kHz mono, copied), then silence, one
   * frame when its last sample is due on the monotonic clock. `null`: silence from the start.
   */
  startPaced(pcm: Int16Array | null): void {
    call(() => this.#raw.startPaced(pcm));
  }

  /** Opus bitrate, bit/s; applies from the next frame. */
  setBitrate(bps: number): void {
    call(() => this.#raw.set('bitrate', Math.round(bps)));
  }
  /** In-band FEC (RFC 6716 §2.1.7). */
  setFec(on: boolean): void {
    call(() => this.#raw.set('fec', on ? 1 : 0));
  }
  /** Expected packet loss given to the encoder, percent. */
  setExpectedLoss(pct: number): void {
    call(() => this.#raw.set('loss', Math.round(pct)));
  }
  /** Discontinuous transmission. */
  setDtx(on: boolean): void {
    call(() => this.#raw.set('dtx', on ? 1 : 0));
  }
  /** Frame size, samples at 48 kHz; applies from the next frame. */
  setFrameSamples(samples: number): void {
    call(() => this.#raw.set('frameSamples', samples));
  }
  /** Input gain, linear (0..64). */
  setGain(linear: number): void {
    call(() => this.#raw.set('gainQ16', Math.round(Math.min(64, Math.max(0, linear)) * 65536)));
  }
  /** Mute: frames are zeroed before encoding. */
  setMuted(on: boolean): void {
    call(() => this.#raw.set('muted', on ? 1 : 0));
  }

  /** Counters, with times on `performance.now()`. */
  stats(): RtpSenderStats {
    const r = call(() => this.#raw.stats());
    const toPerf = (mono: number): number | undefined =>
      mono < 0 ? undefined : performance.now() - (r.nowMonotonicMs - mono);
    return {
      packets: r.packets,
      payloadBytes: r.payloadBytes,
      sendErrors: r.sendErrors,
      lastErrno: r.lastErrno,
      lastTimestamp: r.lastTimestamp,
      lastSentAtMs: toPerf(r.lastSendMonotonicMs),
      startedAtMs: toPerf(r.startMonotonicMs),
      clockSamples: r.clockSamples,
      lbrrPackets: r.lbrrPackets,
    };
  }

  /**
   * The capture's peak since the last call (largest |sample| after gain, 0..32768, muted or
   * not), for a level meter; resets it.
   */
  takePeak(): number {
    return call(() => this.#raw.takePeak());
  }

  /** Records per-frame times from now on (see {@link takeProbes}). */
  setProbing(on: boolean): void {
    call(() => this.#raw.setProbing(on));
  }

  /** The frames recorded since the last call (at most the last 1,024). */
  takeProbes(): RtpSenderProbe[] {
    const t = call(() => this.#raw.takeProbes());
    const nowPerf = performance.now();
    const nowMono = this.#raw.stats().nowMonotonicMs;
    const out: RtpSenderProbe[] = [];
    for (let i = 0; i + 2 < t.length; i += 3) {
      out.push({
        clockSamples: t[i] ?? 0,
        capturedAtMs: nowPerf - (nowMono - (t[i + 1] ?? 0)),
        sentAtMs: nowPerf - (nowMono - (t[i + 2] ?? 0)),
      });
    }
    return out;
  }

  /**
   * Points the socket edge at the pair ICE selected after a restart (RFC 8445 §2.4): from the
   * next frame, packets leave on a duplicate of `fd` for address:port (as ChannelData on
   * `channel`, the relayed edge), and the old socket is released. Same SSRC, sequence numbers,
   * rollover counter, timestamps, encoder and SRTP keys. SENDER_ERR_STATE on the werift edge,
   * SENDER_ERR_BAD_ARG for a bad address, port, channel or a descriptor that is not a UDP socket.
   */
  setDestination(to: { fd: number; address: string; port: number; channel?: number }): void {
    const address = ipAddressBytes(to.address);
    if (address === undefined) {
      throw new RtpSenderError('SENDER_ERR_BAD_ARG', `not an IP address: '${to.address}'`);
    }
    call(() =>
      this.#raw.setDestination({
        fd: to.fd,
        address,
        port: to.port,
        ...(to.channel === undefined ? {} : { channel: to.channel }),
      }),
    );
  }

  /** Stops sending and releases the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close();
  }
}
