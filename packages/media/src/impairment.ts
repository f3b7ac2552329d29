/**
 * Seeded network impairment generator (sans-IO): decides, for each packet sent at a given time,
 * whether it is lost and when it (and any duplicate) arrives. Tests and the trace generator use
 * it in-process; the `parloir netem` UDP proxy wraps it with real sockets and timers.
 *
 * Models: Gilbert–Elliott two-state burst loss (Gilbert 1960, Elliott 1963; the parametrisation
 * of RFC 3611 §4.7.2 and of Linux netem `loss gemodel p r 1-h 1-k`), Gaussian or Pareto jitter
 * with optional AR(1) correlation, delay spikes (handover: the path stalls and then delivers in a
 * burst), route changes (a step in base delay), reordering, duplication and clock drift.
 */
import { MediaError } from './errors.ts';

/**
 * Small fast seeded PRNG (mulberry32, public domain, Tommy Ettinger). Same seed, same sequence,
 * on every platform: traces and tests are reproducible.
 */
export class Prng {
  #state: number;

  /** @param seed any 32-bit integer. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal deviate (Box–Muller). */
  gaussian(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Exponential deviate with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}

/** Gilbert–Elliott burst loss. Mean loss = lossBad·p/(p+r) + lossGood·r/(p+r). */
export interface GilbertElliottLoss {
  model: 'gilbert-elliott';
  /** Probability of moving good→bad per packet, 0..1. */
  p: number;
  /** Probability of moving bad→good per packet, 0..1 (mean burst length 1/r packets). */
  r: number;
  /** Loss probability in the good state, 0..1. Default 0. */
  lossGood?: number;
  /** Loss probability in the bad state, 0..1. Default 1. */
  lossBad?: number;
}

/** Independent (Bernoulli) loss. */
export interface BernoulliLoss {
  model: 'bernoulli';
  /** Loss probability per packet, 0..1. */
  probability: number;
}

/** Jitter added on top of the base delay. */
export interface JitterModel {
  /** `gaussian`: |N(0, σ)|-like around a mean; `pareto`: heavy tail. */
  distribution: 'gaussian' | 'pareto';
  /** Gaussian: standard deviation in ms. Pareto: scale x_m in ms. */
  ms: number;
  /** Pareto shape α (> 1; smaller is heavier). Default 2. */
  alpha?: number;
  /**
   * AR(1) correlation between consecutive packets' jitter, 0..1. Default 0 (independent).
   * Real queues are correlated; Linux netem offers the same knob.
   */
  correlation?: number;
  /** Cap on one packet's jitter, ms: real queues are finite. Default 400. */
  maxMs?: number;
}

/** A period during which the path has different jitter and loss (regime switch). */
export interface Regime {
  /** Start of the regime, in ms of send time. */
  fromMs: number;
  /** Jitter during the regime (none if absent). */
  jitter?: JitterModel;
  /** Loss during the regime (none if absent). */
  loss?: GilbertElliottLoss | BernoulliLoss;
}

/** Options of {@link Impairment}. */
export interface ImpairmentOptions {
  /** PRNG seed. */
  seed: number;
  /** Base one-way delay in ms. Default 20. */
  baseDelayMs?: number;
  /** Loss model (none if absent). */
  loss?: GilbertElliottLoss | BernoulliLoss;
  /** Jitter model (none if absent). */
  jitter?: JitterModel;
  /** Regime switches, sorted by `fromMs`; each replaces jitter and loss from its start. */
  regimes?: Regime[];
  /**
   * Delay spikes: the path stalls for `heightMs`, then delivers everything queued at once
   * (what a Wi-Fi roam or LTE handover looks like).
   */
  spikes?: {
    /** Mean interval between spikes, ms (Poisson). */
    meanIntervalMs: number;
    /** Stall length, ms. */
    heightMs: number;
  };
  /** Steps in base delay: from `atMs` (send time) on, base delay changes by `deltaMs`. */
  routeChanges?: { atMs: number; deltaMs: number }[];
  /** Probability (0..1) that a packet is held back by `reorderExtraMs` and overtaken. */
  reorder?: number;
  /** Extra delay of a reordered packet, ms. Default 40. */
  reorderExtraMs?: number;
  /** Probability (0..1) that a packet is delivered twice. */
  duplicate?: number;
  /**
   * Receiver clock drift relative to the sender, parts per million (3000 = +0.3 %): an interval
   * of t ms on the sender's clock reads t·(1 + ppm·10⁻⁶) ms on the receiver's.
   */
  driftPpm?: number;
  /**
   * Keep delivery order (a FIFO queue), except for explicit `reorder`. Default true. With false,
   * independent jitter larger than the packet interval reorders packets.
   */
  fifo?: boolean;
}

/** Fate of one packet. */
export interface PacketFate {
  /** Arrival times in receiver-clock ms: empty if lost, two entries if duplicated. */
  arrivalsMs: number[];
}

/** Validates impairment options; throws a typed `MEDIA_ERR_IMPAIRMENT_SPEC` error. */
function validate(o: ImpairmentOptions): void {
  const bad = (msg: string): never => {
    throw new MediaError('MEDIA_ERR_IMPAIRMENT_SPEC', msg);
  };
  const prob = (name: string, v: number | undefined) => {
    if (v !== undefined && !(v >= 0 && v <= 1)) bad(`${name} must be a probability 0..1`);
  };
  if (!Number.isFinite(o.seed)) bad('seed must be a number');
  if (o.baseDelayMs !== undefined && !(o.baseDelayMs >= 0)) bad('base delay must be ≥ 0 ms');
  const checkLoss = (l: ImpairmentOptions['loss']) => {
    if (!l) return;
    if (l.model === 'bernoulli') prob('loss', l.probability);
    else {
      prob('p', l.p);
      prob('r', l.r);
      prob('lossGood', l.lossGood);
      prob('lossBad', l.lossBad);
    }
  };
  const checkJitter = (j: JitterModel | undefined) => {
    if (!j) return;
    if (!(j.ms >= 0)) bad('jitter must be ≥ 0 ms');
    if (j.alpha !== undefined && !(j.alpha > 1)) bad('Pareto alpha must be > 1');
    prob('correlation', j.correlation);
  };
  checkLoss(o.loss);
  checkJitter(o.jitter);
  for (const r of o.regimes ?? []) {
    checkLoss(r.loss);
    checkJitter(r.jitter);
  }
  prob('reorder', o.reorder);
  prob('duplicate', o.duplicate);
  if (o.driftPpm !== undefined && !(Math.abs(o.driftPpm) < 100000)) bad('drift out of range');
  if (o.spikes && !(o.spikes.meanIntervalMs > 0 && o.spikes.heightMs >= 0)) bad('bad spikes');
}

/**
 * The generator. Feed packets in send order with {@link Impairment.process}; it returns when each
 * arrives (receiver clock), or that it was lost. Deterministic for a given seed and input.
 */
export class Impairment {
  readonly #o: ImpairmentOptions;
  readonly #rng: Prng;
  #badState = false;
  #jitterState = 0;
  #lastArrival = -Infinity;
  #nextSpikeAt: number;
  #spikeEnd = -Infinity;
  #lost = 0;
  #sent = 0;

  /** @throws MediaError `MEDIA_ERR_IMPAIRMENT_SPEC` on invalid options. */
  constructor(options: ImpairmentOptions) {
    validate(options);
    this.#o = options;
    this.#rng = new Prng(options.seed);
    this.#nextSpikeAt = options.spikes ? this.#rng.exponential(options.spikes.meanIntervalMs) : 0;
  }

  /**
   * Decides the fate of a packet sent at `sendMs` (sender clock, ms, non-decreasing).
   */
  process(sendMs: number): PacketFate {
    const o = this.#o;
    const rng = this.#rng;
    this.#sent++;
    let loss = o.loss;
    let jitter = o.jitter;
    for (const r of o.regimes ?? []) {
      if (sendMs >= r.fromMs) {
        loss = r.loss;
        jitter = r.jitter;
      }
    }
    // Loss first, so a lost packet still consumes the same PRNG draws as a delivered one.
    let lost = false;
    if (loss?.model === 'bernoulli') {
      lost = rng.next() < loss.probability;
    } else if (loss) {
      this.#badState = this.#badState ? rng.next() >= loss.r : rng.next() < loss.p;
      const pl = this.#badState ? (loss.lossBad ?? 1) : (loss.lossGood ?? 0);
      lost = rng.next() < pl;
    }
    let extra = 0;
    if (jitter) {
      const c = jitter.correlation ?? 0;
      let fresh: number;
      if (jitter.distribution === 'gaussian') {
        fresh = Math.abs(rng.gaussian()) * jitter.ms;
      } else {
        const alpha = jitter.alpha ?? 2;
        fresh = jitter.ms * (Math.pow(1 - rng.next(), -1 / alpha) - 1);
      }
      fresh = Math.min(fresh, jitter.maxMs ?? 400);
      this.#jitterState = c * this.#jitterState + (1 - c) * fresh;
      extra = c > 0 ? this.#jitterState : fresh;
    }
    let base = o.baseDelayMs ?? 20;
    for (const rc of o.routeChanges ?? []) if (sendMs >= rc.atMs) base += rc.deltaMs;
    if (o.spikes) {
      while (sendMs >= this.#nextSpikeAt) {
        this.#spikeEnd = this.#nextSpikeAt + o.spikes.heightMs;
        this.#nextSpikeAt += o.spikes.heightMs + rng.exponential(o.spikes.meanIntervalMs);
      }
      if (sendMs < this.#spikeEnd) extra += this.#spikeEnd - sendMs;
    }
    const reordered = o.reorder !== undefined && rng.next() < o.reorder;
    const duplicated = o.duplicate !== undefined && rng.next() < o.duplicate;
    const dupGap = rng.next() * 5;
    if (lost) {
      this.#lost++;
      return { arrivalsMs: [] };
    }
    const drift = 1 + (o.driftPpm ?? 0) * 1e-6;
    let arrival = sendMs * drift + base + extra;
    if (reordered) {
      arrival += o.reorderExtraMs ?? 40;
    } else if (o.fifo !== false) {
      arrival = Math.max(arrival, this.#lastArrival);
      this.#lastArrival = arrival;
    }
    return { arrivalsMs: duplicated ? [arrival, arrival + dupGap] : [arrival] };
  }

  /** Packets processed so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Packets lost so far. */
  get lost(): number {
    return this.#lost;
  }
}
