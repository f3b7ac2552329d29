/**
 * Adaptation policy: a pure function from one QoS window (and the policy's own state) to the
 * parameter changes it recommends — Opus bitrate, FEC on/off and expected loss %, frame size,
 * jitter-buffer minimum delay — with hysteresis so it does not flap, plus human-readable
 * suggestions in English and French. Each suggestion has a stable `id` and carries the
 * machine-readable change it proposes, so the UI can offer an "apply" button.
 *
 * Hysteresis: losses and jitter are smoothed (EWMA, α = 0.3); every rule has separate on and off
 * thresholds; a parameter changed less than `holdWindows` windows ago is not changed again; and
 * a step in the "relax" direction (less FEC, more bitrate, smaller frames, less delay) needs the
 * condition to hold for `relaxWindows` consecutive windows.
 */

/**
 * Lowest OPUS_SET_PACKET_LOSS_PERC at which libopus (voip, 32 kbit/s, 20 ms, complexity 5) really
 * codes in-band FEC (LBRR) on speech: below it, decoding "FEC" gives PLC's output. Measured by
 * `npm run bench:jitter -- --loss-protection` (its LBRR probe).
 */
export const LBRR_MIN_EXPECTED_LOSS_PCT = 6;

/**
 * Bitrate that carries LBRR without starving the main coding, bit/s: at 40 kbit/s libopus codes
 * LBRR from 1 % expected loss, and the protected call beats the unprotected one at 1-10 % loss.
 */
export const LBRR_BITRATE_BPS = 40_000;

/** Parameters the policy tunes. */
export interface MediaParams {
  /** Opus target bitrate, kbit/s. */
  bitrateKbps: number;
  /** Opus in-band FEC (RFC 6716 §2.1.7 LBRR). */
  fec: boolean;
  /** Expected packet loss given to the encoder (OPUS_SET_PACKET_LOSS_PERC), %. */
  expectedLossPct: number;
  /** Frame size, ms. */
  frameMs: 10 | 20 | 40 | 60;
  /** Jitter-buffer minimum delay, ms. */
  jitterMinDelayMs: number;
}

/** One proposed change (a partial {@link MediaParams}). */
export type ParamChange = Partial<MediaParams>;

/** What the policy needs from a QoS window (a {@link QosSnapshot} fits). */
export interface QosWindow {
  /** Network loss in the window, %. */
  lossPct: number;
  /** Loss burst ratio (1 random). */
  burstR?: number;
  /** RFC 3550 jitter, ms. */
  jitterMs: number;
  /** RTT, ms, if known. */
  rttMs?: number | undefined;
  /** Estimated mouth-to-ear delay, ms. */
  oneWayDelayMs?: number;
  /** Jitter-buffer numbers of the window. */
  jitterBuffer?: { latePackets: number; targetDelayMs: number };
}

/** Stable suggestion ids (the UI keys translations and "apply" buttons on them). */
export type SuggestionId =
  | 'fec-on'
  | 'fec-off'
  | 'expected-loss'
  | 'bitrate-down'
  | 'bitrate-up'
  | 'frame-up'
  | 'frame-down'
  | 'jitter-min-up'
  | 'jitter-min-down'
  | 'high-delay'
  | 'high-jitter';

/** A suggestion shown to the user. */
export interface Suggestion {
  /** Stable id. */
  id: SuggestionId;
  /** English text. */
  en: string;
  /** French text. */
  fr: string;
  /** The change it proposes; absent for advice the software cannot apply (e.g. use a cable). */
  change?: ParamChange;
}

/** Policy state carried from one window to the next. Start with {@link initialAdaptationState}. */
export interface AdaptationState {
  /** Current parameters. */
  params: MediaParams;
  /** Smoothed loss, %. */
  lossEwma: number;
  /** Smoothed jitter, ms. */
  jitterEwma: number;
  /** Windows since each parameter last changed. */
  sinceChange: Record<'bitrate' | 'fec' | 'frame' | 'jitter', number>;
  /** Consecutive calm windows (loss < 1 %, no late packets). */
  calmWindows: number;
  /** Consecutive windows without late packets. */
  noLateWindows: number;
}

/** Limits and thresholds of the policy. */
export interface AdaptationLimits {
  /** Lowest bitrate, kbit/s. Default 12. */
  minBitrateKbps?: number;
  /** Highest bitrate, kbit/s. Default 64. */
  maxBitrateKbps?: number;
  /** Windows a parameter is held after a change. Default 5. */
  holdWindows?: number;
  /** Consecutive calm windows before relaxing. Default 10. */
  relaxWindows?: number;
}

/** Initial state for given parameters. */
export function initialAdaptationState(params: MediaParams): AdaptationState {
  return {
    params: { ...params },
    lossEwma: 0,
    jitterEwma: 0,
    sinceChange: { bitrate: 1000, fec: 1000, frame: 1000, jitter: 1000 },
    calmWindows: 0,
    noLateWindows: 0,
  };
}

const pct = (v: number) => Math.round(v);
/** French typography: a non-breaking space before % and :. */
const frPct = (v: number) => `${pct(v)}\u00a0%`;

/** Result of {@link adapt}. */
export interface AdaptationResult {
  /** State for the next window. */
  state: AdaptationState;
  /** Changes to apply now (merged into state.params already). */
  change: ParamChange;
  /** Suggestions for the user, each with its change when it has one. */
  suggestions: Suggestion[];
}

/** The policy. Pure: same inputs, same outputs; the input state is not modified. */
export function adapt(
  window: QosWindow,
  state: AdaptationState,
  limits: AdaptationLimits = {},
): AdaptationResult {
  const minBr = limits.minBitrateKbps ?? 12;
  const maxBr = limits.maxBitrateKbps ?? 64;
  const hold = limits.holdWindows ?? 5;
  const relax = limits.relaxWindows ?? 10;
  const loss = Number.isFinite(window.lossPct) ? Math.max(0, window.lossPct) : 0;
  const jitter = Number.isFinite(window.jitterMs) ? Math.max(0, window.jitterMs) : 0;
  const late = window.jitterBuffer?.latePackets ?? 0;
  const s: AdaptationState = {
    params: { ...state.params },
    lossEwma: 0.7 * state.lossEwma + 0.3 * loss,
    jitterEwma: 0.7 * state.jitterEwma + 0.3 * jitter,
    sinceChange: {
      bitrate: state.sinceChange.bitrate + 1,
      fec: state.sinceChange.fec + 1,
      frame: state.sinceChange.frame + 1,
      jitter: state.sinceChange.jitter + 1,
    },
    calmWindows: loss < 1 && late === 0 ? state.calmWindows + 1 : 0,
    noLateWindows: late === 0 ? state.noLateWindows + 1 : 0,
  };
  const p = s.params;
  const change: ParamChange = {};
  const suggestions: Suggestion[] = [];
  const L = s.lossEwma;

  // Loss protection (issue 24). libopus codes no LBRR below LBRR_MIN_EXPECTED_LOSS_PCT expected
  // loss, so "FEC on at 2 %" protected nothing. Now the first window that shows any loss turns
  // protection on at once (no smoothing wait, no hold): FEC on and the expected loss at least
  // the LBRR floor, or the loss itself when higher. Rising loss raises it at once; it comes
  // down only by 2-point steps after `hold` windows, never under the floor while protected; and
  // it all goes off (FEC off, 0 %) only after `relax` calm windows under 0.5 %. Turning it on
  // also raises the bitrate to LBRR_BITRATE_BPS, which carries LBRR without starving the rest.
  const seen = Math.max(L, loss);
  const want = Math.min(30, Math.max(LBRR_MIN_EXPECTED_LOSS_PCT, Math.ceil(seen)));
  const protecting = p.fec && p.expectedLossPct >= LBRR_MIN_EXPECTED_LOSS_PCT;
  if (loss > 0 && !protecting) {
    const on: ParamChange = { fec: true, expectedLossPct: want };
    // LBRR takes its bits from the main coding: at 32 kbit/s it costs ~0.2 PESQ on what arrives,
    // at 40 kbit/s it is the best row at every measured loss (bench:jitter --loss-protection).
    // Not under heavy loss (congestion: the bitrate rule below backs off instead).
    const carry = Math.min(maxBr, LBRR_BITRATE_BPS / 1000);
    if (p.bitrateKbps < carry && seen < 10) {
      on.bitrateKbps = carry;
      s.sinceChange.bitrate = 0;
    }
    Object.assign(change, on);
    s.sinceChange.fec = 0;
    suggestions.push({
      id: 'fec-on',
      en: `Loss ${pct(seen)}%: turn on FEC`,
      fr: `Perte ${frPct(seen)} : activer la FEC`,
      change: on,
    });
  } else if (p.fec && L < 0.5 && s.calmWindows >= relax && s.sinceChange.fec >= hold) {
    Object.assign(change, { fec: false, expectedLossPct: 0 });
    s.sinceChange.fec = 0;
    suggestions.push({
      id: 'fec-off',
      en: 'Loss under 0.5% for a while: turn off FEC to save bitrate',
      fr: 'Perte sous 0,5\u00a0% depuis un moment : désactiver la FEC pour économiser du débit',
      change: { fec: false, expectedLossPct: 0 },
    });
  } else if (
    protecting &&
    (want >= p.expectedLossPct + 2 || (want <= p.expectedLossPct - 2 && s.sinceChange.fec >= hold))
  ) {
    // Keep the encoder's expected loss near the loss: up at once, down after a hold.
    change.expectedLossPct = want;
    s.sinceChange.fec = 0;
    suggestions.push({
      id: 'expected-loss',
      en: `Loss ${pct(seen)}%: tell the encoder to expect ${want}% loss`,
      fr: `Perte ${frPct(seen)} : régler la perte attendue de l’encodeur à ${frPct(want)}`,
      change: { expectedLossPct: want },
    });
  }

  // Bitrate: heavy loss is usually congestion, so back off by a quarter; recover by a tenth.
  if (L >= 10 && p.bitrateKbps > minBr && s.sinceChange.bitrate >= hold) {
    const bitrateKbps = Math.max(minBr, Math.round(p.bitrateKbps * 0.75));
    change.bitrateKbps = bitrateKbps;
    s.sinceChange.bitrate = 0;
    suggestions.push({
      id: 'bitrate-down',
      en: `Loss ${pct(L)}%: lower the bitrate to ${bitrateKbps} kbit/s`,
      fr: `Perte ${frPct(L)} : baisser le débit à ${bitrateKbps} kbit/s`,
      change: { bitrateKbps },
    });
  } else if (
    L < 1 &&
    p.bitrateKbps < maxBr &&
    s.calmWindows >= relax &&
    s.sinceChange.bitrate >= relax
  ) {
    const bitrateKbps = Math.min(maxBr, Math.round(p.bitrateKbps * 1.1) + 1);
    change.bitrateKbps = bitrateKbps;
    s.sinceChange.bitrate = 0;
    suggestions.push({
      id: 'bitrate-up',
      en: `Network calm: raise the bitrate to ${bitrateKbps} kbit/s`,
      fr: `Réseau calme : monter le débit à ${bitrateKbps} kbit/s`,
      change: { bitrateKbps },
    });
  }

  // Frame size: under heavy loss at the lowest bitrate, larger frames cut the packet rate and
  // header overhead; back to 20 ms once calm.
  if (L >= 10 && p.bitrateKbps <= minBr && p.frameMs < 40 && s.sinceChange.frame >= hold) {
    change.frameMs = 40;
    s.sinceChange.frame = 0;
    suggestions.push({
      id: 'frame-up',
      en: `Loss ${pct(L)}% at the lowest bitrate: send 40 ms frames (fewer packets)`,
      fr: `Perte ${frPct(L)} au débit minimal : envoyer des trames de 40 ms (moins de paquets)`,
      change: { frameMs: 40 },
    });
  } else if (p.frameMs > 20 && L < 2 && s.calmWindows >= relax && s.sinceChange.frame >= relax) {
    change.frameMs = 20;
    s.sinceChange.frame = 0;
    suggestions.push({
      id: 'frame-down',
      en: 'Network calm: back to 20 ms frames (less delay)',
      fr: 'Réseau calme : revenir aux trames de 20 ms (moins de délai)',
      change: { frameMs: 20 },
    });
  }

  // Jitter-buffer floor: late packets mean the adaptive target is chasing the network; give it
  // a floor at its current target; lower the floor after a long run without late packets.
  const target = window.jitterBuffer?.targetDelayMs ?? 0;
  if (late >= 3 && s.sinceChange.jitter >= hold) {
    const jitterMinDelayMs = Math.min(400, Math.max(p.jitterMinDelayMs + 20, Math.round(target)));
    if (jitterMinDelayMs > p.jitterMinDelayMs) {
      change.jitterMinDelayMs = jitterMinDelayMs;
      s.sinceChange.jitter = 0;
      suggestions.push({
        id: 'jitter-min-up',
        en: `${late} late packets: keep at least ${jitterMinDelayMs} ms of buffer`,
        fr: `${late} paquets en retard : garder au moins ${jitterMinDelayMs} ms de tampon`,
        change: { jitterMinDelayMs },
      });
    }
  } else if (
    p.jitterMinDelayMs > 0 &&
    s.noLateWindows >= 3 * relax &&
    s.sinceChange.jitter >= relax
  ) {
    const jitterMinDelayMs = Math.max(0, p.jitterMinDelayMs - 20);
    change.jitterMinDelayMs = jitterMinDelayMs;
    s.sinceChange.jitter = 0;
    suggestions.push({
      id: 'jitter-min-down',
      en: `No late packets for a while: lower the buffer floor to ${jitterMinDelayMs} ms`,
      fr: `Aucun paquet en retard depuis un moment : baisser le plancher du tampon à ${jitterMinDelayMs} ms`,
      change: { jitterMinDelayMs },
    });
  }

  // Advice the software cannot apply by itself.
  const delay = window.oneWayDelayMs ?? (window.rttMs ?? 0) / 2;
  if (delay > 250) {
    suggestions.push({
      id: 'high-delay',
      en: `One-way delay ${Math.round(delay)} ms: use a closer server or a wired connection`,
      fr: `Délai ${Math.round(delay)} ms : utiliser un serveur plus proche ou une connexion filaire`,
    });
  }
  if (s.jitterEwma > 30) {
    suggestions.push({
      id: 'high-jitter',
      en: `Jitter ${Math.round(s.jitterEwma)} ms: move closer to the Wi-Fi access point or use a cable`,
      fr: `Gigue ${Math.round(s.jitterEwma)} ms : se rapprocher du point d’accès Wi-Fi ou utiliser un câble`,
    });
  }

  Object.assign(p, change);
  return { state: s, change, suggestions };
}
