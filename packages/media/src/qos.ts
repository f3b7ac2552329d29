/**
 * Receive-side QoS: RFC 3550 statistics from RTP arrivals (§A.3 loss, §A.8 interarrival jitter),
 * round-trip time from RTCP report fields (§6.4.1 LSR/DLSR), loss burstiness for the E-model, and
 * {@link QosMonitor}, which folds those, the jitter-buffer stats and the E-model into one snapshot
 * per second for the UI, the QoS log and the adaptation policy. Sans-IO: times are passed in.
 */
import {
  adapt,
  initialAdaptationState,
  type AdaptationLimits,
  type AdaptationState,
  type MediaParams,
  type ParamChange,
  type Suggestion,
} from './adaptation.ts';
import { eModel, type CodecImpairment, type QualityGrade } from './emodel.ts';
import type { JitterBufferStats } from './jitter-buffer.ts';
import { Unwrapper } from './rtp.ts';

/** RFC 3550 receiver statistics so far. */
export interface RtpReceiveSnapshot {
  /** Packets received (duplicates included, as RFC 3550 §A.3 counts them). */
  packetsReceived: number;
  /** Extended highest sequence number received. */
  extendedHighestSeq: number;
  /** Packets expected so far: extended highest − lowest sequence number received + 1 (§A.3). */
  packetsExpected: number;
  /** Cumulative number of packets lost (§A.3; may be negative with duplicates), clamped ≥ 0. */
  cumulativeLost: number;
  /** Interarrival jitter, RTP timestamp units (§A.8). */
  jitterTs: number;
  /** Interarrival jitter, ms. */
  jitterMs: number;
}

/** One report interval (what an RTCP report block carries). */
export interface RtpReportInterval {
  /** Fraction lost since the last report, 8-bit fixed point (0..255, §6.4.1). */
  fractionLost: number;
  /** Same as a percentage. */
  fractionLostPct: number;
  /** Packets expected in the interval. */
  expected: number;
  /** Packets received in the interval. */
  received: number;
}

/** RFC 3550 §A.3 / §A.8 receiver statistics for one SSRC. */
export class RtpReceiveStats {
  readonly #clockRate: number;
  readonly #unwrap = new Unwrapper(16);
  #baseSeq: number | undefined;
  #maxSeq = 0;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #jitter = 0;
  #lastTransit: number | undefined;

  /** @param clockRate RTP clock rate, Hz. */
  constructor(clockRate: number) {
    this.#clockRate = clockRate;
  }

  /**
   * Records one arrival.
   * @param arrivalMs receiver clock, ms.
   */
  onPacket(packet: { sequenceNumber: number; timestamp: number }, arrivalMs: number): void {
    const seq = this.#unwrap.unwrap(packet.sequenceNumber);
    if (this.#baseSeq === undefined) {
      this.#baseSeq = seq;
      this.#maxSeq = seq;
    }
    if (seq < this.#baseSeq) this.#baseSeq = seq;
    if (seq > this.#maxSeq) this.#maxSeq = seq;
    this.#received++;
    // §A.8: transit in timestamp units; J += (|D| − J)/16. Modular arithmetic on the 32-bit
    // timestamp keeps it right across the wrap.
    const arrivalTs = (arrivalMs * this.#clockRate) / 1000;
    const transit = arrivalTs - packet.timestamp;
    if (this.#lastTransit !== undefined) {
      let d = transit - this.#lastTransit;
      d = ((((d + 2 ** 31) % 2 ** 32) + 2 ** 32) % 2 ** 32) - 2 ** 31;
      this.#jitter += (Math.abs(d) - this.#jitter) / 16;
    }
    this.#lastTransit = transit;
  }

  /** Statistics so far. */
  snapshot(): RtpReceiveSnapshot {
    const expected = this.#baseSeq === undefined ? 0 : this.#maxSeq - this.#baseSeq + 1;
    return {
      packetsReceived: this.#received,
      extendedHighestSeq: this.#maxSeq,
      packetsExpected: expected,
      cumulativeLost: Math.max(0, expected - this.#received),
      jitterTs: this.#jitter,
      jitterMs: (this.#jitter * 1000) / this.#clockRate,
    };
  }

  /** Closes a report interval (§A.3 fraction lost) and starts the next. */
  reportInterval(): RtpReportInterval {
    const expected = this.#baseSeq === undefined ? 0 : this.#maxSeq - this.#baseSeq + 1;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval === 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      fractionLost: fraction,
      fractionLostPct: (fraction * 100) / 256,
      expected: expectedInterval,
      received: receivedInterval,
    };
  }
}

/** Converts a time in ms to the middle 32 bits of an NTP timestamp (units of 1/65536 s). */
export function msToNtpShort(ms: number): number {
  return Math.round((ms * 65536) / 1000) >>> 0;
}

/**
 * Round-trip time from a report block, RFC 3550 §6.4.1: RTT = A − LSR − DLSR, all in the middle
 * 32 bits of NTP time (1/65536 s). Returns undefined when LSR is 0 (no SR received yet) or the
 * result is negative (clock trouble).
 * @param arrivalNtpShort A: when the report arrived, middle-32 NTP units.
 * @param lsr last SR timestamp field of the report block.
 * @param dlsr delay since last SR field (1/65536 s).
 * @returns RTT in ms.
 */
export function rttFromReport(
  arrivalNtpShort: number,
  lsr: number,
  dlsr: number,
): number | undefined {
  if (lsr === 0) return undefined;
  const units = (arrivalNtpShort - lsr - dlsr) >>> 0;
  if (units >= 2 ** 31) return undefined;
  return (units * 1000) / 65536;
}

/**
 * Loss run statistics for the E-model's burst ratio (G.107 §7.5 note; G.113 Appendix I):
 * BurstR = 1 / (p + q), p = P(lost | previous received), q = P(received | previous lost).
 */
export class LossBurstTracker {
  #prevLost: boolean | undefined;
  #fromReceived = 0;
  #receivedToLost = 0;
  #fromLost = 0;
  #lostToReceived = 0;
  #lost = 0;
  #total = 0;

  /** Records one packet slot in sequence order. */
  record(lost: boolean): void {
    this.#total++;
    if (lost) this.#lost++;
    if (this.#prevLost === false) {
      this.#fromReceived++;
      if (lost) this.#receivedToLost++;
    } else if (this.#prevLost === true) {
      this.#fromLost++;
      if (!lost) this.#lostToReceived++;
    }
    this.#prevLost = lost;
  }

  /** Loss probability, %. */
  get lossPct(): number {
    return this.#total === 0 ? 0 : (100 * this.#lost) / this.#total;
  }

  /** Burst ratio (1 for random loss, > 1 for bursty), ≥ 1. */
  get burstR(): number {
    if (this.#fromReceived === 0 || this.#fromLost === 0) return 1;
    const p = this.#receivedToLost / this.#fromReceived;
    const q = this.#lostToReceived / this.#fromLost;
    return p + q > 0 ? Math.max(1, 1 / (p + q)) : 1;
  }

  /** Starts a new window. */
  reset(): void {
    this.#prevLost = undefined;
    this.#fromReceived = this.#receivedToLost = this.#fromLost = this.#lostToReceived = 0;
    this.#lost = this.#total = 0;
  }
}

/** One second (or one window) of QoS, as shown to users and logged. */
export interface QosSnapshot {
  /** End of the window, receiver clock ms. */
  atMs: number;
  /** Window length, ms. */
  windowMs: number;
  /** Round-trip time, ms (undefined until a report gives one). */
  rttMs: number | undefined;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
  /** Network loss in the window, % of expected packets. */
  lossPct: number;
  /** Cumulative packets lost since the start. */
  cumulativeLost: number;
  /** Burst ratio of the window's losses. */
  burstR: number;
  /** Jitter-buffer state at the end of the window. */
  jitterBuffer: {
    currentDelayMs: number;
    targetDelayMs: number;
    latePackets: number;
    concealedMs: number;
    fecRecovered: number;
    accelerateCount: number;
    expandCount: number;
  };
  /** Packets lost after concealment (late + declared lost − FEC-recovered), % in the window. */
  effectiveLossPct: number;
  /** Estimated mouth-to-ear delay, ms: RTT/2 + jitter buffer + codec/device allowance. */
  oneWayDelayMs: number;
  /** E-model rating. */
  rFactor: number;
  /** MOS from R. */
  mos: number;
  /** Grade. */
  grade: QualityGrade;
  /** Suggestions of the adaptation policy (empty if the monitor was given no `params`). */
  suggestions: Suggestion[];
  /** Changes the policy would apply now (empty if none). */
  proposedChange: ParamChange;
}

/** Options of {@link QosMonitor}. */
export interface QosMonitorOptions {
  /** RTP clock rate, Hz. */
  clockRate: number;
  /** Codec impairment values for the E-model. */
  codec: CodecImpairment;
  /** Fixed delay of capture + encoder lookahead + playout device, ms. Default 30. */
  fixedDelayMs?: number;
  /** Window length, ms. Default 1000. */
  windowMs?: number;
  /** Current media parameters: enables the adaptation policy's suggestions in snapshots. */
  params?: MediaParams;
  /** Limits of the adaptation policy. */
  limits?: AdaptationLimits;
}

/**
 * Combines RTP stats, jitter-buffer stats and the E-model into one {@link QosSnapshot} per window.
 * The caller feeds packets ({@link QosMonitor.onPacket}), RTT ({@link QosMonitor.onRtt}) and
 * polls {@link QosMonitor.poll} with the time and current jitter-buffer stats; it returns a
 * snapshot when a window has elapsed.
 */
export class QosMonitor {
  readonly #rtp: RtpReceiveStats;
  readonly #bursts = new LossBurstTracker();
  readonly #codec: CodecImpairment;
  readonly #fixedDelayMs: number;
  readonly #windowMs: number;
  readonly #seqUnwrap = new Unwrapper(16);
  #windowStart: number | undefined;
  #rttMs: number | undefined;
  #highest: number | undefined;
  #seen = new Set<number>();
  #lastJb: JitterBufferStats | undefined;
  #policy: AdaptationState | undefined;
  readonly #limits: AdaptationLimits | undefined;

  constructor(options: QosMonitorOptions) {
    this.#policy = options.params ? initialAdaptationState(options.params) : undefined;
    this.#limits = options.limits;
    this.#rtp = new RtpReceiveStats(options.clockRate);
    this.#codec = options.codec;
    this.#fixedDelayMs = options.fixedDelayMs ?? 30;
    this.#windowMs = options.windowMs ?? 1000;
  }

  /** Records an RTP arrival. */
  onPacket(packet: { sequenceNumber: number; timestamp: number }, arrivalMs: number): void {
    this.#windowStart ??= arrivalMs;
    this.#rtp.onPacket(packet, arrivalMs);
    const seq = this.#seqUnwrap.unwrap(packet.sequenceNumber);
    if (this.#seen.size < 100000) this.#seen.add(seq);
    if (this.#highest === undefined || seq > this.#highest) this.#highest = seq;
  }

  /** Tells the policy which parameters are now in force (after the engine or user applied some). */
  setParams(params: MediaParams): void {
    this.#policy = this.#policy
      ? { ...this.#policy, params: { ...params } }
      : initialAdaptationState(params);
  }

  /** Records an RTT measurement (from RTCP or the transport), ms. */
  onRtt(rttMs: number): void {
    if (Number.isFinite(rttMs) && rttMs >= 0) this.#rttMs = rttMs;
  }

  /**
   * Returns a snapshot if at least one window has elapsed since the last one.
   * @param nowMs receiver clock, ms.
   * @param jb current jitter-buffer stats.
   */
  poll(nowMs: number, jb: JitterBufferStats): QosSnapshot | undefined {
    this.#windowStart ??= nowMs;
    if (nowMs - this.#windowStart < this.#windowMs) return undefined;
    return this.snapshot(nowMs, jb);
  }

  /** Closes the window now and returns its snapshot. */
  snapshot(nowMs: number, jb: JitterBufferStats): QosSnapshot {
    const windowMs = nowMs - (this.#windowStart ?? nowMs);
    this.#windowStart = nowMs;
    const interval = this.#rtp.reportInterval();
    const rtp = this.#rtp.snapshot();
    // Loss pattern of the window for the burst ratio, in sequence order.
    this.#bursts.reset();
    if (this.#highest !== undefined && interval.expected > 0) {
      // Bounded: a hostile sequence jump cannot make this loop long.
      const from = this.#highest - Math.min(interval.expected, 5000) + 1;
      for (let s = from; s <= this.#highest; s++) this.#bursts.record(!this.#seen.has(s));
      for (const s of this.#seen) if (s < from - 2000) this.#seen.delete(s);
    }
    const prev = this.#lastJb;
    this.#lastJb = jb;
    const d = (k: 'latePackets' | 'lostPackets' | 'fecRecovered' | 'packetsPlayed') =>
      jb[k] - (prev?.[k] ?? 0);
    const playedSlots = d('packetsPlayed') + d('lostPackets');
    const effectiveLost = Math.max(0, d('lostPackets') - d('fecRecovered'));
    const effectiveLossPct = playedSlots > 0 ? (100 * effectiveLost) / playedSlots : 0;
    const oneWayDelayMs = (this.#rttMs ?? 0) / 2 + jb.currentDelayMs + this.#fixedDelayMs;
    const e = eModel({
      ta: oneWayDelayMs,
      ie: this.#codec.ie,
      bpl: this.#codec.bpl,
      ppl: effectiveLossPct,
      burstR: this.#bursts.burstR,
    });
    const snapshotBase = {
      atMs: nowMs,
      windowMs,
      rttMs: this.#rttMs,
      jitterMs: rtp.jitterMs,
      lossPct: interval.fractionLostPct,
      cumulativeLost: rtp.cumulativeLost,
      burstR: this.#bursts.burstR,
      jitterBuffer: {
        currentDelayMs: jb.currentDelayMs,
        targetDelayMs: jb.targetDelayMs,
        latePackets: jb.latePackets,
        concealedMs: jb.concealedMs,
        fecRecovered: jb.fecRecovered,
        accelerateCount: jb.accelerateCount,
        expandCount: jb.expandCount,
      },
      effectiveLossPct,
      oneWayDelayMs,
      rFactor: e.r,
      mos: e.mos,
      grade: e.grade,
    };
    let suggestions: Suggestion[] = [];
    let proposedChange: ParamChange = {};
    if (this.#policy) {
      // The policy's state advances, but its params only change when setParams() says so: the
      // engine or the user decides whether to apply.
      const params = this.#policy.params;
      const result = adapt(snapshotBase, this.#policy, this.#limits);
      this.#policy = { ...result.state, params };
      suggestions = result.suggestions;
      proposedChange = result.change;
    }
    return { ...snapshotBase, suggestions, proposedChange };
  }
}
