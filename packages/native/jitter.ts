/**
 * The adaptive jitter buffer in C, for one Opus stream decoded at 48 kHz mono: a port of
 * `@parloir/media`'s `JitterBuffer` (same options, decisions, statistics and PCM, checked tick by
 * tick by test/jitter-cross.test.ts) with its own libopus decoder. The C receive thread calls
 * src/jitter.c directly; this class is the same buffer for tests and the JavaScript path.
 *
 * Differences from the TypeScript buffer, all on inputs no real stream produces: a payload over
 * 1500 bytes and a non-finite arrival time count the packet malformed, every option must be a
 * finite number, `capacity` is at most 65536, and the sliding-minimum window keeps at most 4096
 * arrivals.
 * @module
 */
import { addon } from './addon.ts';
import { NativeError } from './errors.ts';

/** Codes raised by {@link NativeJitterBuffer}. */
export type JitterErrorCode =
  'JITTER_ERR_BAD_OPTION' | 'JITTER_ERR_BAD_ARG' | 'JITTER_ERR_CLOSED' | 'JITTER_ERR_INTERNAL';

/** A {@link NativeJitterBuffer} call failed: bad option or argument, use after close. */
export class JitterError extends NativeError {
  declare readonly code: JitterErrorCode;
  constructor(code: JitterErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'JitterError';
  }
}

const CODES = new Set<string>([
  'JITTER_ERR_BAD_OPTION',
  'JITTER_ERR_BAD_ARG',
  'JITTER_ERR_CLOSED',
  'JITTER_ERR_INTERNAL',
]);

function fromRaw(err: unknown): JitterError {
  const raw: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' && CODES.has(raw) ? (raw as JitterErrorCode) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new JitterError(code ?? 'JITTER_ERR_BAD_ARG', message, { cause: err });
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromRaw(err);
  }
}

/** Options; each means what the same option of `@parloir/media`'s `JitterBuffer` means. */
export interface NativeJitterBufferOptions {
  /** Playout tick, ms: an integer in (0, 60], usually 5, 10 or 20. Default 20. */
  tickMs?: number;
  /** Lower bound of the target delay, ms. Default 0. */
  minDelayMs?: number;
  /** Upper bound of the target delay and of the level, ms. Default 2000. */
  maxDelayMs?: number;
  /** Ring size, packets (16..65536). Default 1024. */
  capacity?: number;
  /** Quantile of lateness risk (reordered packets' delay) the target covers. Default 0.99. */
  quantile?: number;
  /** Quantile of relative delay of all packets the target covers. Default 0.95. */
  inOrderQuantile?: number;
  /** Margin added to the quantile, ms. Default 2. */
  marginMs?: number;
  /** History for the quantile, ms. Default 10000. */
  historyMs?: number;
  /** Use in-band FEC of the next packet to rebuild a lost one. Default true. */
  fec?: boolean;
  /** Target delay for the first 50 packets, ms. Default 40. */
  initialDelayMs?: number;
  /** Accelerate once the level is this many ticks above target (at least 0.25). Default 1. */
  accelerateAtTicks?: number;
  /** How fast the target may fall, ms per second of playout; 0 = follows the quantile. Default 0. */
  targetDecayMsPerS?: number;
}

/** What one tick did (as `@parloir/media`'s `PlayoutDecision`). */
export type NativePlayoutDecision =
  'normal' | 'fec' | 'plc' | 'accelerate' | 'expand' | 'reset' | 'buffering';

/** Result of {@link NativeJitterBuffer.insert} (as `@parloir/media`'s `InsertOutcome`). */
export type NativeInsertOutcome = 'inserted' | 'duplicate' | 'late' | 'reset' | 'malformed';

/** Counters and state; every field as in `@parloir/media`'s `JitterBufferStats`. */
export interface NativeJitterBufferStats {
  /** Packets handed to insert(). */
  packetsReceived: number;
  /** Packets decoded normally. */
  packetsPlayed: number;
  /** Duplicates dropped. */
  duplicates: number;
  /** Packets that arrived after their playout time. */
  latePackets: number;
  /** Packets declared lost at playout. */
  lostPackets: number;
  /** Lost packets rebuilt from the next packet's FEC. */
  fecRecovered: number;
  /** Lost packets concealed by PLC. */
  plcPackets: number;
  /** Audio produced by PLC, FEC and expansion, ms. */
  concealedMs: number;
  /** Audio output in total, ms. */
  playedMs: number;
  /** Ticks with an accelerate decision. */
  accelerateCount: number;
  /** Ticks with an expand decision. */
  expandCount: number;
  /** Buffer resets (SSRC change, sequence jump). */
  resets: number;
  /** Packets whose payload could not be parsed or decoded. */
  malformedPackets: number;
  /** Current playout delay above the fastest recent packet, ms. */
  currentDelayMs: number;
  /** Current target delay, ms. */
  targetDelayMs: number;
  /** Packets waiting in the ring. */
  bufferedPackets: number;
  /** Lower bound on the target, ms. */
  minDelayMs: number;
  /** Upper bound on target and level, ms. */
  maxDelayMs: number;
}

/** An RTP packet as the transport hands it over. */
export interface NativeJitterPacket {
  /** 16-bit RTP sequence number (0..65535). */
  sequenceNumber: number;
  /** 32-bit RTP timestamp, 48 kHz units (0..2^32 − 1). */
  timestamp: number;
  /** RTP SSRC (0..2^32 − 1); a change resets the buffer. */
  ssrc: number;
  /** RTP marker bit. */
  marker: boolean;
  /** Opus payload. */
  payload: Uint8Array;
}

interface RawJitterBuffer {
  insert(
    seq: number,
    timestamp: number,
    ssrc: number,
    marker: boolean,
    payload: Uint8Array,
    arrivalMs: number,
  ): number;
  pull(nowMs: number, out: Int16Array): number;
  tickSamples(): number;
  setDelayBounds(minMs: number, maxMs: number): void;
  stats(): NativeJitterBufferStats;
  close(): void;
}

// addon.ts describes the other classes; this one is typed here, beside its only user.
const raw = addon as unknown as {
  NativeJitterBuffer: new (options: NativeJitterBufferOptions) => RawJitterBuffer;
};

const DECISIONS: readonly NativePlayoutDecision[] = [
  'normal',
  'fec',
  'plc',
  'accelerate',
  'expand',
  'reset',
  'buffering',
];
const OUTCOMES: readonly NativeInsertOutcome[] = [
  'inserted',
  'duplicate',
  'late',
  'reset',
  'malformed',
];

/** The C jitter buffer and Opus decoder of one stream. Call {@link close} when done. */
export class NativeJitterBuffer {
  #raw: RawJitterBuffer;
  #tickMs: number;
  #tickSamples: number;

  /** @throws JitterError `JITTER_ERR_BAD_OPTION` on a bad or inconsistent option. */
  constructor(options: NativeJitterBufferOptions = {}) {
    this.#raw = call(() => new raw.NativeJitterBuffer(options));
    this.#tickMs = options.tickMs ?? 20;
    this.#tickSamples = this.#raw.tickSamples();
  }

  /** Playout tick, ms. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /** Samples per tick at 48 kHz. */
  get tickSamples(): number {
    return this.#tickSamples;
  }

  /**
   * Hands over one received packet; any payload is accepted (a bad one is `malformed`).
   * @param arrivalMs receiver clock, ms.
   * @throws JitterError `JITTER_ERR_BAD_ARG` if a header field is out of range.
   */
  insert(packet: NativeJitterPacket, arrivalMs: number): NativeInsertOutcome {
    const r = call(() =>
      this.#raw.insert(
        packet.sequenceNumber,
        packet.timestamp,
        packet.ssrc,
        packet.marker,
        packet.payload,
        arrivalMs,
      ),
    );
    return OUTCOMES[r] ?? 'malformed';
  }

  /**
   * Produces exactly one tick of PCM for playout at `nowMs` (receiver clock, ms).
   * @param out where to write the tick (at least {@link tickSamples} long); a new array if absent.
   */
  pull(nowMs: number, out?: Int16Array): { decision: NativePlayoutDecision; pcm: Int16Array } {
    const pcm = out ?? new Int16Array(this.#tickSamples);
    const r = call(() => this.#raw.pull(nowMs, pcm));
    return { decision: DECISIONS[r] ?? 'buffering', pcm };
  }

  /**
   * Changes the bounds on the target delay; takes effect on the next tick.
   * @throws JitterError `JITTER_ERR_BAD_OPTION` if min > max or either is negative.
   */
  setDelayBounds(bounds: { minMs?: number; maxMs?: number }): void {
    const now = call(() => this.#raw.stats());
    const min = bounds.minMs ?? now.minDelayMs;
    const max = bounds.maxMs ?? now.maxDelayMs;
    call(() => this.#raw.setDelayBounds(min, max));
  }

  /** Counters and state. */
  stats(): NativeJitterBufferStats {
    return call(() => this.#raw.stats());
  }

  /** Frees the buffer and its decoder. Idempotent; later calls throw `JITTER_ERR_CLOSED`. */
  close(): void {
    this.#raw.close();
  }
}
