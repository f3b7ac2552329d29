/**
 * The engine's {@link QualityModelPort} over `@parloir/media`: the ITU-T G.107 E-model
 * (`eModel`, with `opusImpairment` for Ie/Bpl — an approximation, ITU-T has no Opus entry) and
 * the adaptation policy (`adapt`: EWMA-smoothed loss and jitter, separate on/off thresholds,
 * hold and relax windows, en/fr suggestions with a stable `id` and the `change` they propose).
 * This adapter only converts units (bit/s ↔ kbit/s, engine settings ↔ `MediaParams`) and keeps
 * the policy's state between windows.
 */
import {
  adapt,
  eModel,
  initialAdaptationState,
  opusImpairment,
  type AdaptationLimits,
  type AdaptationState,
  type MediaParams,
} from '@parloir/media';
import type { AdaptInput, AdaptOutput, QualityModelPort } from './ports.ts';

function paramsOf(input: AdaptInput): MediaParams {
  const f = input.frameMs;
  return {
    bitrateKbps: Math.round(input.bitrateBps / 1000),
    fec: input.fec,
    expectedLossPct: input.expectedLossPct,
    frameMs: f === 10 || f === 40 || f === 60 ? f : 20,
    jitterMinDelayMs: input.jbMinMs,
  };
}

/** E-model and adaptation policy of `@parloir/media`, behind the engine's port. */
export class MediaQualityModel implements QualityModelPort {
  #state: AdaptationState | undefined;
  #limits: AdaptationLimits;

  /** `limits`: the policy's bitrate bounds and hold/relax windows (media defaults otherwise). */
  constructor(options: { limits?: AdaptationLimits } = {}) {
    this.#limits = options.limits ?? {};
  }

  assess(input: {
    oneWayDelayMs: number;
    lossPct: number;
    burstRatio: number;
    bitrateBps: number;
    fec: boolean;
  }): { rFactor: number; mos: number; grade: string } {
    const codec = opusImpairment(input.bitrateBps / 1000, input.fec);
    const e = eModel({
      ta: Math.max(0, input.oneWayDelayMs),
      ie: codec.ie,
      bpl: codec.bpl,
      ppl: Math.max(0, input.lossPct),
      burstR: Math.max(1, input.burstRatio),
    });
    return { rFactor: Math.max(0, e.r), mos: e.mos, grade: e.grade };
  }

  adapt(input: AdaptInput): AdaptOutput {
    // The policy's params always start from the settings actually in force (the user may have
    // changed them, or adaptation may be off), while its smoothing/hysteresis state carries on.
    const params = paramsOf(input);
    const state: AdaptationState =
      this.#state === undefined ? initialAdaptationState(params) : { ...this.#state, params };
    const r = adapt(
      {
        // Our encoder's settings answer the loss of the stream we send, as the peer reports it.
        lossPct: input.remoteLossPct,
        jitterMs: input.jitterMs,
        rttMs: input.rttMs,
        oneWayDelayMs: input.oneWayDelayMs,
        jitterBuffer: { latePackets: input.latePackets, targetDelayMs: input.jbTargetMs },
      },
      state,
      this.#limits,
    );
    this.#state = r.state;
    const c = r.change;
    const changes: AdaptOutput['changes'] = {};
    if (c.bitrateKbps !== undefined) changes.bitrateBps = c.bitrateKbps * 1000;
    if (c.fec !== undefined) changes.fec = c.fec;
    if (c.expectedLossPct !== undefined) changes.expectedLossPct = c.expectedLossPct;
    if (c.frameMs !== undefined) changes.frameMs = c.frameMs;
    if (c.jitterMinDelayMs !== undefined) changes.jbMinMs = c.jitterMinDelayMs;
    return { changes, suggestions: r.suggestions };
  }
}
