/**
 * Call quality and suggestions from a once-a-second measurement, shared by both modes' display:
 * the E-model (ITU-T G.107) and the adaptation policy come from @parloir/media, the same code the
 * native engine runs; this file only adapts browser measurements to their inputs and their
 * outputs to the UI's shapes.
 */
import {
  adapt,
  eModel,
  initialAdaptationState,
  opusImpairment,
  type AdaptationState,
  type ParamChange,
  type Suggestion as MediaSuggestion,
} from '@parloir/media';
import type { UiSettings, Grade, Suggestion } from './types.ts';

/** What one browser sample gives the E-model. */
export interface QualityInput {
  /** Mouth-to-ear one-way delay, in ms. */
  oneWayDelayMs: number;
  /** Packet loss over the interval, in percent. */
  lossPct: number;
  /** Opus bitrate, in kbit/s. */
  bitrateKbps: number;
  /** Whether Opus in-band FEC is on. */
  fec: boolean;
}

/** MOS and grade of a sample (G.107 with the media package's Opus Ie/Bpl approximation). */
export function quality(input: QualityInput): { r: number; mos: number; grade: Grade } {
  const codec = opusImpairment(input.bitrateKbps, input.fec);
  const e = eModel({ ta: input.oneWayDelayMs, ppl: input.lossPct, ie: codec.ie, bpl: codec.bpl });
  return { r: e.r, mos: e.mos, grade: e.grade };
}

/** A media-policy parameter change as UI settings (fields the UI cannot express are dropped). */
export function settingsFromChange(change: ParamChange | undefined): UiSettings {
  const out: UiSettings = {};
  if (change === undefined) return out;
  if (change.bitrateKbps !== undefined) out.bitrateKbps = change.bitrateKbps;
  if (change.fec !== undefined) out.fec = change.fec;
  if (change.frameMs !== undefined) out.frameMs = change.frameMs;
  if (change.jitterMinDelayMs !== undefined) out.jbMinMs = change.jitterMinDelayMs;
  return out;
}

/** A media-policy suggestion as the UI shows it. */
export function toUiSuggestion(
  s: Pick<MediaSuggestion, 'en' | 'fr'> & {
    id?: string;
    change?: ParamChange;
  },
): Suggestion {
  return { id: s.id ?? s.en, en: s.en, fr: s.fr, change: settingsFromChange(s.change) };
}

/**
 * Runs the media adaptation policy as an advisor: it sees each window, its suggestions are shown
 * with an [Apply] button, but nothing is applied behind the user's back (the policy's state is
 * reset to the settings actually in force after each window).
 */
export class SuggestionAdvisor {
  #state: AdaptationState;
  #current: Suggestion[] = [];

  /** Starts from the call's initial settings. */
  constructor(settings: UiSettings) {
    this.#state = initialAdaptationState(paramsOf(settings));
  }

  /** Feeds one window; returns the suggestions to show (the latest per id, at most four). */
  next(
    window: { lossPct: number; jitterMs: number; rttMs?: number; oneWayDelayMs?: number },
    settings: UiSettings,
  ): Suggestion[] {
    const r = adapt(window, this.#state);
    this.#state = { ...r.state, params: paramsOf(settings) };
    if (r.suggestions.length > 0) {
      const fresh = r.suggestions.map(toUiSuggestion);
      const ids = new Set(fresh.map((s) => s.id));
      this.#current = [...fresh, ...this.#current.filter((s) => !ids.has(s.id))].slice(0, 4);
    }
    return this.#current;
  }

  /** Forgets a suggestion once applied. */
  dismiss(id: string): void {
    this.#current = this.#current.filter((s) => s.id !== id);
  }
}

function paramsOf(s: UiSettings) {
  const frame = s.frameMs === 10 || s.frameMs === 40 || s.frameMs === 60 ? s.frameMs : 20;
  return {
    bitrateKbps: s.bitrateKbps ?? 32,
    fec: s.fec ?? true,
    expectedLossPct: 0,
    frameMs: frame,
    jitterMinDelayMs: s.jbMinMs ?? 0,
  } as const;
}
