/**
 * Adaptive jitter buffer and receiver for one audio stream (sans-IO). The transport calls
 * {@link JitterBuffer.insert} for every RTP packet with its arrival time; the real-time playout
 * loop calls {@link JitterBuffer.pull} once per tick (10 or 20 ms) and gets exactly one tick of
 * PCM plus the decision taken: `normal`, `fec`, `plc`, `accelerate`, `expand`, `reset` or
 * `buffering`.
 *
 * Design, after WebRTC NetEQ:
 * - storage is a ring indexed by extended sequence number (RFC 3550 §A.1 unwrapping);
 * - the target delay is a high quantile of relative arrival delay ({@link DelayEstimator});
 * - the playout level is the age of the audio about to be played relative to the fastest recent
 *   packet; above target it accelerates (WSOLA cut on decoded PCM, or shortened DTX silence);
 *   when the next packet is missing and the level is below target it expands (waits and
 *   conceals, timeline shifts); at or above target a missing packet is declared lost and rebuilt
 *   from the next packet's in-band FEC (RFC 6716 §2.1.7 LBRR) or concealed (PLC);
 * - packets of any duration (10–120 ms Opus, any G.711 length) are decoded into a small PCM queue
 *   from which tick-sized chunks are cut, so the sender may change frame size mid-call;
 * - sequence numbers find loss, timestamps give timing, so a DTX gap (timestamp jump, no missing
 *   sequence number, RFC 7587 §3.1.3) is silence, not loss;
 * - memory is bounded: a fixed ring, a PCM queue of at most one packet plus one tick, and a level
 *   hard-capped at `maxDelayMs`.
 *
 * Which one runs in calls: not this one. Every native call plays through its C port,
 * `packages/native/src/jitter.c` (the client's C pipeline, docs/engine.md). This TypeScript buffer
 * is the reference model of `jitter.c`: `npm run bench:jitter` and `parloir netem` simulations run
 * it, and `packages/native/test/jitter-cross.test.ts` feeds both the same packets and times and
 * checks identical outcomes, decisions, PCM and counters on every tick — so a change here must be
 * made there too, or that test fails.
 */
import { DelayEstimator } from './delay-estimator.ts';
import { MediaError } from './errors.ts';
import { PAYLOAD_FORMATS, payloadDurationSamples, type AudioCodec } from './payloads.ts';
import { Unwrapper } from './rtp.ts';
import { shortenPcm } from './time-stretch.ts';

/**
 * The decoder the buffer drives. The native addon's `OpusDecoder` has exactly this shape; the
 * G.711 decoders are wrapped by {@link g711Decoder}. Output is mono 16-bit PCM at `sampleRate`.
 */
export interface AudioDecoder {
  /** Decodes one packet. */
  decode(packet: Uint8Array): Int16Array;
  /** Rebuilds the packet before `nextPacket` from its in-band FEC; `samples` long. */
  decodeFec(nextPacket: Uint8Array, samples: number): Int16Array;
  /** Packet-loss concealment: `samples` of plausible audio continuing the last output. */
  conceal(samples: number): Int16Array;
  /** Forgets decoder state (new stream). */
  reset(): void;
}

/** An RTP packet as the transport hands it over. */
export interface JitterBufferPacket {
  /** 16-bit RTP sequence number. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp, clock-rate units. */
  timestamp: number;
  /** RTP SSRC; a change resets the buffer. */
  ssrc: number;
  /** RTP marker bit (start of talkspurt). */
  marker: boolean;
  /** Encoded payload. */
  payload: Uint8Array;
}

/** What one tick did. */
export type PlayoutDecision =
  'normal' | 'fec' | 'plc' | 'accelerate' | 'expand' | 'reset' | 'buffering';

/** Result of {@link JitterBuffer.insert}. */
export type InsertOutcome = 'inserted' | 'duplicate' | 'late' | 'reset' | 'malformed';

/** Result of {@link JitterBuffer.pull}. */
export interface PullResult {
  /** The most significant decision taken this tick. */
  decision: PlayoutDecision;
  /** Exactly one tick of mono PCM at `sampleRate`. */
  pcm: Int16Array;
  /** Packets whose audio started this tick: extended sequence number and playout time (ms). */
  played: { sequenceNumber: number; playoutMs: number }[];
}

/** Counters and current state of the buffer. */
export interface JitterBufferStats {
  /** Packets handed to insert(). */
  packetsReceived: number;
  /** Packets decoded normally. */
  packetsPlayed: number;
  /** Duplicates dropped. */
  duplicates: number;
  /** Packets that arrived after their playout time: counted, not played. */
  latePackets: number;
  /** Packets declared lost at playout (rebuilt by FEC or concealed). */
  lostPackets: number;
  /** Lost packets rebuilt from the next packet's FEC. */
  fecRecovered: number;
  /** Lost packets concealed by PLC. */
  plcPackets: number;
  /** Audio produced by PLC, FEC and expansion, ms. */
  concealedMs: number;
  /** Audio output in total since start, ms. */
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
  /** Current lower and upper bounds on the target, ms. */
  minDelayMs: number;
  /** Upper bound on target and level, ms. */
  maxDelayMs: number;
}

/** Options of {@link JitterBuffer}. */
export interface JitterBufferOptions {
  /** The decoder (Opus addon, G.711, or a fake in tests). */
  decoder: AudioDecoder;
  /** Payload format, used to read packet durations. Default `opus`. */
  codec?: AudioCodec;
  /** RTP clock rate, Hz. Default: the codec's (48000 for Opus). */
  clockRate?: number;
  /** Decoder output rate, Hz. Default: the clock rate. */
  sampleRate?: number;
  /** Playout tick, ms (10 or 20). Default 20. */
  tickMs?: number;
  /** Lower bound of the target delay, ms. Default 0. */
  minDelayMs?: number;
  /** Upper bound of the target delay and of the level, ms. Default 2000. */
  maxDelayMs?: number;
  /** Ring size, packets. Default 1024. */
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
  /** Target delay for the first 50 packets, before the history means much, ms. Default 40. */
  initialDelayMs?: number;
  /**
   * Accelerate once the level is this many ticks above target (the cut is always one tick).
   * Default 1: the level settles in [target, target + 1 tick) and rarely underruns. Lower values
   * (0.5–0.75) trade concealment for delay: the level settles around the target, so in-order
   * packets arriving a little late make it expand more often (on a clean LAN with a 20 ms tick,
   * 0.75 saves ~10 ms but conceals ~20 % of the audio).
   */
  accelerateAtTicks?: number;
  /**
   * How fast the target may fall, ms per second of playout; 0 (default): it follows the quantile
   * at once. With a value, the target rises at once with the quantile but decays no faster than
   * this (NetEQ's peak detector idea): after a delay spike the buffer stays deep enough for the
   * next one instead of accelerating back down and expanding mid-speech again when it comes.
   */
  targetDecayMsPerS?: number;
}

interface Slot {
  seq: number;
  ts: number;
  dur: number;
  payload: Uint8Array;
}

const FATE_RING = 2048;
const STARTUP_PACKETS = 50;
const FATE_PLAYED = 1;
const FATE_SKIPPED = 2;

/** The adaptive jitter buffer and receiver. See the module comment. */
export class JitterBuffer {
  readonly #decoder: AudioDecoder;
  readonly #codec: AudioCodec;
  readonly #clockRate: number;
  readonly #sampleRate: number;
  readonly #tickMs: number;
  readonly #tickSamples: number;
  readonly #capacity: number;
  readonly #marginMs: number;
  readonly #fec: boolean;
  readonly #initialDelayMs: number;
  readonly #accelerateAtTicks: number;
  readonly #targetDecayMsPerTick: number;
  /** The held target (see `targetDecayMsPerS`), before bounds, ms; 0 when not holding. */
  #heldTargetMs = 0;
  #minDelayMs: number;
  #maxDelayMs: number;
  readonly #estimator: DelayEstimator;
  readonly #ring: (Slot | undefined)[];
  #count = 0;
  readonly #fateSeq = new Float64Array(FATE_RING).fill(-1);
  readonly #fate = new Uint8Array(FATE_RING);
  readonly #seqUnwrap = new Unwrapper(16);
  readonly #tsUnwrap = new Unwrapper(32);
  #ssrc: number | undefined;
  #tsOrigin = 0;
  #nextSeq: number | undefined;
  #highestSeq: number | undefined;
  #nextTs = 0;
  #lastDur = 0;
  #started = false;
  #pendingReset = false;
  #queue: Int16Array = new Int16Array(0);
  /** Sequence numbers whose first sample is in the queue, with their offset in samples. */
  #queueStarts: { seq: number; offset: number }[] = [];
  #stats = {
    packetsReceived: 0,
    packetsPlayed: 0,
    duplicates: 0,
    latePackets: 0,
    lostPackets: 0,
    fecRecovered: 0,
    plcPackets: 0,
    concealedMs: 0,
    playedMs: 0,
    accelerateCount: 0,
    expandCount: 0,
    resets: 0,
    malformedPackets: 0,
  };
  #lastLevelMs = 0;

  /** @throws MediaError `MEDIA_ERR_BAD_OPTION` on inconsistent options. */
  constructor(options: JitterBufferOptions) {
    this.#decoder = options.decoder;
    this.#codec = options.codec ?? 'opus';
    this.#clockRate = options.clockRate ?? PAYLOAD_FORMATS[this.#codec].clockRate;
    this.#sampleRate = options.sampleRate ?? this.#clockRate;
    this.#tickMs = options.tickMs ?? 20;
    if (!(this.#tickMs > 0 && this.#tickMs <= 60) || !(this.#clockRate > 0)) {
      throw new MediaError('MEDIA_ERR_BAD_OPTION', 'tickMs must be in (0, 60] and clockRate > 0');
    }
    this.#tickSamples = Math.round((this.#tickMs * this.#sampleRate) / 1000);
    this.#capacity = Math.max(16, Math.floor(options.capacity ?? 1024));
    this.#marginMs = options.marginMs ?? 2;
    this.#fec = options.fec ?? true;
    this.#initialDelayMs = options.initialDelayMs ?? 40;
    this.#accelerateAtTicks = Math.max(0.25, options.accelerateAtTicks ?? 1);
    const decay = options.targetDecayMsPerS ?? 0;
    if (!(decay >= 0 && Number.isFinite(decay))) {
      throw new MediaError('MEDIA_ERR_BAD_OPTION', 'targetDecayMsPerS must be finite and >= 0');
    }
    this.#targetDecayMsPerTick = (decay * this.#tickMs) / 1000;
    this.#minDelayMs = 0;
    this.#maxDelayMs = 2000;
    this.setDelayBounds({ minMs: options.minDelayMs ?? 0, maxMs: options.maxDelayMs ?? 2000 });
    this.#estimator = new DelayEstimator({
      quantile: options.quantile ?? 0.99,
      inOrderQuantile: options.inOrderQuantile ?? 0.95,
      historyMs: options.historyMs ?? 10000,
    });
    this.#ring = new Array<Slot | undefined>(this.#capacity).fill(undefined);
  }

  /**
   * Changes the bounds on the target delay; takes effect on the next tick.
   * @throws MediaError `MEDIA_ERR_BAD_OPTION` if min > max or either is negative.
   */
  setDelayBounds(bounds: { minMs?: number; maxMs?: number }): void {
    const min = bounds.minMs ?? this.#minDelayMs;
    const max = bounds.maxMs ?? this.#maxDelayMs;
    if (!(min >= 0 && max >= min && Number.isFinite(max))) {
      throw new MediaError('MEDIA_ERR_BAD_OPTION', `bad delay bounds [${min}, ${max}] ms`);
    }
    this.#minDelayMs = min;
    this.#maxDelayMs = max;
  }

  /** Playout tick, ms. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /** Samples per tick at the output rate. */
  get tickSamples(): number {
    return this.#tickSamples;
  }

  /**
   * Hands over one received packet. Never throws for any packet content.
   * @param arrivalMs receiver clock, ms.
   */
  insert(packet: JitterBufferPacket, arrivalMs: number): InsertOutcome {
    this.#stats.packetsReceived++;
    let outcome: InsertOutcome = 'inserted';
    if (this.#ssrc !== undefined && packet.ssrc !== this.#ssrc) {
      this.#reset();
      outcome = 'reset';
    }
    if (this.#ssrc === undefined) {
      this.#ssrc = packet.ssrc;
      this.#tsOrigin = this.#tsUnwrap.unwrap(packet.timestamp);
    }
    const seq = this.#seqUnwrap.unwrap(packet.sequenceNumber);
    const ts = this.#tsUnwrap.unwrap(packet.timestamp);
    const durRes = payloadDurationSamples(this.#codec, packet.payload, this.#clockRate);
    let dur = durRes.ok ? durRes.value : 0;
    if (!durRes.ok || dur <= 0) {
      this.#stats.malformedPackets++;
      return 'malformed';
    }
    dur = Math.min(dur, Math.round(0.12 * this.#clockRate));
    // Every arrival, even a late one, tells us about the network.
    const reordered = this.#highestSeq !== undefined && seq < this.#highestSeq;
    if (this.#highestSeq === undefined || seq > this.#highestSeq) this.#highestSeq = seq;
    this.#estimator.insert(arrivalMs, this.#tsMs(ts), reordered);
    if (this.#nextSeq !== undefined) {
      const ahead = seq - this.#nextSeq;
      if (ahead >= this.#capacity || ahead < -FATE_RING) {
        // A jump the ring cannot hold: the sender restarted or skipped far ahead.
        this.#reset();
        this.#stats.packetsReceived--;
        this.insert(packet, arrivalMs);
        return 'reset';
      }
      if (ahead < 0 && this.#started) {
        const i = seq % FATE_RING;
        if (this.#fateSeq[i] === seq && this.#fate[i] === FATE_PLAYED) {
          this.#stats.duplicates++;
          return 'duplicate';
        }
        this.#stats.latePackets++;
        if (this.#fateSeq[i] === seq) this.#fate[i] = FATE_PLAYED;
        return 'late';
      }
    }
    return this.#store(seq, ts, dur, packet.payload) ?? outcome;
  }

  /**
   * Produces exactly one tick of PCM for playout at `nowMs`. Never throws (a decoder exception is
   * counted and concealed).
   * @param nowMs receiver clock, ms.
   */
  pull(nowMs: number): PullResult {
    const played: PullResult['played'] = [];
    if (this.#pendingReset) {
      this.#pendingReset = false;
      this.#stats.resets++;
      return { decision: 'reset', pcm: new Int16Array(this.#tickSamples), played };
    }
    if (this.#targetDecayMsPerTick > 0) {
      this.#heldTargetMs = Math.max(
        this.#quantileTargetMs(),
        this.#heldTargetMs - this.#targetDecayMsPerTick,
      );
    }
    const target = this.targetDelayMs;
    if (!this.#started) {
      if (this.#count === 0 || this.#nextSeq === undefined) {
        return { decision: 'buffering', pcm: new Int16Array(this.#tickSamples), played };
      }
      if (this.#level(nowMs) < target) {
        return { decision: 'buffering', pcm: new Int16Array(this.#tickSamples), played };
      }
      this.#started = true;
    }
    let decision: PlayoutDecision = 'normal';
    const rank = (d: PlayoutDecision) =>
      ({ normal: 0, accelerate: 1, expand: 2, fec: 3, plc: 4, reset: 5, buffering: 6 })[d];
    const raise = (d: PlayoutDecision) => {
      if (rank(d) > rank(decision)) decision = d;
    };
    let level = this.#level(nowMs);
    // Hard cap: never hold more than maxDelayMs. First jump over silence (a DTX gap before the
    // next packet), then drop whole packets (counted as lost), until back at the target.
    if (level > this.#maxDelayMs && this.#count > 0) {
      while (level > target && this.#count > 0) {
        const seq = this.#nextSeq ?? 0;
        const slot = this.#peek(seq);
        this.#queue = new Int16Array(0);
        this.#queueStarts = [];
        if (slot && slot.ts > this.#nextTs) {
          const excessTs = Math.ceil(((level - target) * this.#clockRate) / 1000);
          this.#nextTs = Math.min(slot.ts, this.#nextTs + excessTs);
        } else {
          if (slot) this.#take(seq);
          this.#markFate(seq, FATE_SKIPPED);
          this.#stats.lostPackets++;
          this.#nextTs = slot ? slot.ts + slot.dur : this.#nextTs + this.#lastDur;
          this.#nextSeq = seq + 1;
        }
        level = this.#level(nowMs);
      }
      this.#stats.accelerateCount++;
      raise('accelerate');
    }
    let guard = 0;
    let expandFrom = -1;
    // Preemptive expand: a full tick below target (the target rose, or the minimum was raised),
    // stretch now rather than wait for an underrun.
    if (level < target - this.#tickMs) expandFrom = this.#queue.length;
    while (expandFrom < 0 && this.#queue.length < this.#tickSamples && guard++ < 64) {
      const step = this.#decodeStep(nowMs, target, played, true);
      if (step === 'wait') {
        expandFrom = this.#queue.length;
        break;
      }
      raise(step);
    }
    // Accelerate: `accelerateAtTicks` above target, cut exactly one tick of decoded audio (two
    // ticks played in the time of one). Cutting whole ticks keeps packet starts on tick
    // boundaries, so no buffered time is wasted waiting for a misaligned packet.
    level = this.#level(nowMs);
    if (expandFrom < 0 && level - target >= this.#tickMs * this.#accelerateAtTicks) {
      const want = this.#tickSamples;
      while (this.#queue.length < this.#tickSamples + want && guard++ < 64) {
        if (this.#decodeStep(nowMs, target, played, false) !== 'normal') break;
      }
      if (this.#queue.length >= this.#tickSamples + want) {
        const overlap = Math.min(this.#tickSamples, Math.round(this.#sampleRate / 400));
        const search = this.#queue.length - want - overlap;
        const cut = shortenPcm(this.#queue, want, overlap, search);
        if (cut.removed > 0) {
          this.#queue = cut.pcm;
          this.#shiftStarts(cut.at, cut.removed);
          this.#stats.accelerateCount++;
          raise('accelerate');
        }
      }
    }
    const pcm = new Int16Array(this.#tickSamples);
    const take = Math.min(this.#tickSamples, this.#queue.length);
    pcm.set(this.#queue.subarray(0, take));
    for (const s of this.#queueStarts) {
      if (s.offset < take) {
        played.push({
          sequenceNumber: s.seq,
          playoutMs: nowMs + (s.offset * 1000) / this.#sampleRate,
        });
      }
    }
    this.#queueStarts = this.#queueStarts
      .filter((s) => s.offset >= take)
      .map((s) => ({ seq: s.seq, offset: s.offset - take }));
    this.#queue = this.#queue.slice(take);
    if (take < this.#tickSamples) {
      // Expand: nothing to play yet and room below target; conceal and let the timeline slip.
      const missing = this.#tickSamples - take;
      pcm.set(this.#safeConceal(missing).subarray(0, missing), take);
      this.#stats.concealedMs += (missing * 1000) / this.#sampleRate;
      this.#stats.expandCount++;
      raise('expand');
    }
    this.#stats.playedMs += this.#tickMs;
    this.#lastLevelMs = this.#level(nowMs + this.#tickMs);
    return { decision, pcm, played };
  }

  /** Target delay now, ms, within the current bounds. */
  get targetDelayMs(): number {
    const q = Math.max(this.#quantileTargetMs(), this.#heldTargetMs);
    return Math.min(this.#maxDelayMs, Math.max(this.#minDelayMs, q));
  }

  /** The quantile (plus margin, or the start-up default) before hold and bounds, ms. */
  #quantileTargetMs(): number {
    let q = this.#estimator.size > 0 ? this.#estimator.targetMs() + this.#marginMs : 0;
    // Until the history means something, start from a safe default (NetEQ starts at 80 ms).
    if (this.#estimator.size < STARTUP_PACKETS) q = Math.max(q, this.#initialDelayMs);
    return q;
  }

  /** Counters and state. */
  stats(): JitterBufferStats {
    return {
      ...this.#stats,
      currentDelayMs: this.#lastLevelMs,
      targetDelayMs: this.targetDelayMs,
      bufferedPackets: this.#count,
      minDelayMs: this.#minDelayMs,
      maxDelayMs: this.#maxDelayMs,
    };
  }

  /** Milliseconds of sender media time for an extended timestamp. */
  #tsMs(ts: number): number {
    return ((ts - this.#tsOrigin) * 1000) / this.#clockRate;
  }

  #samples(tsUnits: number): number {
    return Math.round((tsUnits * this.#sampleRate) / this.#clockRate);
  }

  /** Age of the next sample to play relative to the fastest recent packet, ms. */
  #level(nowMs: number): number {
    const minTransit = this.#estimator.minTransitMs;
    if (minTransit === undefined) return 0;
    const queuedTs = (this.#queue.length * this.#clockRate) / this.#sampleRate;
    return nowMs - this.#tsMs(this.#nextTs - queuedTs) - minTransit;
  }

  #store(seq: number, ts: number, dur: number, payload: Uint8Array): InsertOutcome | undefined {
    if (this.#nextSeq === undefined || (!this.#started && seq < this.#nextSeq)) {
      if (this.#nextSeq !== undefined && this.#nextSeq - seq >= this.#capacity) return 'late';
      this.#nextSeq = seq;
      this.#nextTs = ts;
    }
    const i = seq % this.#capacity;
    const existing = this.#ring[i];
    if (existing?.seq === seq) {
      this.#stats.duplicates++;
      return 'duplicate';
    }
    if (existing) this.#count--;
    this.#ring[i] = { seq, ts, dur, payload: payload.slice() };
    this.#count++;
    return undefined;
  }

  #take(seq: number): Slot | undefined {
    const i = seq % this.#capacity;
    const slot = this.#ring[i];
    if (slot?.seq !== seq) return undefined;
    this.#ring[i] = undefined;
    this.#count--;
    return slot;
  }

  #peek(seq: number): Slot | undefined {
    const slot = this.#ring[seq % this.#capacity];
    return slot?.seq === seq ? slot : undefined;
  }

  #markFate(seq: number, fate: number): void {
    const i = seq % FATE_RING;
    this.#fateSeq[i] = seq;
    this.#fate[i] = fate;
  }

  #append(pcm: Int16Array, seq?: number): void {
    if (seq !== undefined) this.#queueStarts.push({ seq, offset: this.#queue.length });
    const q = new Int16Array(this.#queue.length + pcm.length);
    q.set(this.#queue);
    q.set(pcm, this.#queue.length);
    this.#queue = q;
  }

  /** Moves queued packet starts after a cut of `removed` samples at `at`. */
  #shiftStarts(at: number, removed: number): void {
    // A packet whose start fell inside the cut still played (time-compressed): keep it.
    this.#queueStarts = this.#queueStarts.map((s) => ({
      seq: s.seq,
      offset: s.offset <= at ? s.offset : Math.max(at, s.offset - removed),
    }));
  }

  #safeConceal(samples: number): Int16Array {
    try {
      // Opus conceals in multiples of 2.5 ms: ask for the next multiple and cut.
      const quantum = this.#sampleRate / 400;
      const request = Number.isInteger(quantum) ? Math.ceil(samples / quantum) * quantum : samples;
      const pcm = this.#decoder.conceal(request);
      return fit(pcm, samples);
    } catch {
      return new Int16Array(samples);
    }
  }

  /**
   * Moves the timeline forward by one packet (or one DTX stretch) into the queue.
   * @returns `wait` if the next packet is missing and the buffer should wait (expand).
   */
  #decodeStep(
    nowMs: number,
    target: number,
    played: PullResult['played'],
    allowLoss: boolean,
  ): PlayoutDecision | 'wait' {
    const seq = this.#nextSeq ?? 0;
    const slot = this.#peek(seq);
    if (slot) {
      const gap = slot.ts - this.#nextTs;
      if (gap > 0) {
        // DTX or a timestamp jump with no missing sequence number: silence, not loss.
        // Shorten the silence while over target (accelerate for free), else play it.
        if (!allowLoss) return 'wait';
        const excessTs = ((this.#level(nowMs) - target) * this.#clockRate) / 1000;
        const skip = Math.max(0, Math.min(gap, Math.floor(excessTs)));
        this.#nextTs += skip;
        const fill = Math.min(gap - skip, Math.round((this.#tickMs * this.#clockRate) / 1000));
        if (fill > 0) {
          this.#append(this.#safeConceal(this.#samples(fill)));
          this.#nextTs += fill;
        }
        return skip > 0 ? 'accelerate' : 'normal';
      }
      this.#take(seq);
      let pcm: Int16Array;
      let decision: PlayoutDecision = 'normal';
      try {
        pcm = fit(this.#decoder.decode(slot.payload), this.#samples(slot.dur));
      } catch {
        this.#stats.malformedPackets++;
        pcm = this.#safeConceal(this.#samples(slot.dur));
        decision = 'plc';
      }
      if (gap < 0) pcm = pcm.subarray(Math.min(pcm.length, this.#samples(-gap)));
      this.#append(pcm, seq);
      this.#markFate(seq, FATE_PLAYED);
      this.#stats.packetsPlayed++;
      this.#lastDur = slot.dur;
      this.#nextSeq = seq + 1;
      this.#nextTs = slot.ts + slot.dur;
      return decision;
    }
    if (!allowLoss || this.#count === 0 || this.#level(nowMs) < target) return 'wait';
    // Declared lost: rebuild from the next packet's FEC if it is here, else conceal.
    const next = this.#peek(seq + 1);
    let durTs = next ? next.ts - this.#nextTs : this.#lastDur;
    const maxTs = Math.round(0.12 * this.#clockRate);
    if (!(durTs > 0 && durTs <= maxTs)) durTs = this.#lastDur > 0 ? this.#lastDur : maxTs / 6;
    this.#stats.lostPackets++;
    this.#markFate(seq, FATE_SKIPPED);
    this.#nextSeq = seq + 1;
    if (this.#level(nowMs) - target >= (durTs * 1000) / this.#clockRate) {
      // We already expanded over this packet's time while waiting for it: that concealment
      // stands for it, so skip its time instead of concealing it twice (NetEQ "merge").
      this.#nextTs += durTs;
      this.#stats.plcPackets++;
      return 'plc';
    }
    const samples = this.#samples(durTs);
    let pcm: Int16Array | undefined;
    let decision: PlayoutDecision = 'plc';
    if (next && this.#fec) {
      try {
        pcm = fit(this.#decoder.decodeFec(next.payload, samples), samples);
        decision = 'fec';
        this.#stats.fecRecovered++;
      } catch {
        pcm = undefined;
      }
    }
    if (!pcm) {
      pcm = this.#safeConceal(samples);
      this.#stats.plcPackets++;
    }
    this.#stats.concealedMs += (samples * 1000) / this.#sampleRate;
    this.#append(pcm);
    this.#nextTs += durTs;
    return decision;
  }

  #reset(): void {
    this.#ring.fill(undefined);
    this.#count = 0;
    this.#fateSeq.fill(-1);
    this.#seqUnwrap.reset();
    this.#tsUnwrap.reset();
    this.#estimator.reset();
    this.#ssrc = undefined;
    this.#nextSeq = undefined;
    this.#highestSeq = undefined;
    this.#nextTs = 0;
    this.#started = false;
    this.#heldTargetMs = 0;
    this.#queue = new Int16Array(0);
    this.#queueStarts = [];
    this.#pendingReset = true;
    try {
      this.#decoder.reset();
    } catch {
      // A decoder that fails to reset will be reset again on the next stream.
    }
  }
}

/** Pads with zeros or truncates to exactly `samples`. */
function fit(pcm: Int16Array, samples: number): Int16Array {
  if (pcm.length === samples) return pcm;
  const out = new Int16Array(samples);
  out.set(pcm.subarray(0, samples));
  return out;
}
