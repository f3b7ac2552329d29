/**
 * Call quality from network measurements: a simplified ITU-T G.107 E-model giving R and MOS, used
 * for the browser's getStats() samples (the native engine computes its own with @parloir/media).
 *
 * R = 93.2 − Id − Ie,eff (G.107 §7 defaults: Ro − Is = 93.2, A = 0). Id uses the Cole–Rosenbluth
 * (2001) fit of G.107's delay impairment. Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl/BurstR + Bpl) (G.107
 * eq. 7-29) with BurstR = 1. For Opus we take Ie = 0 and Bpl = 20 at wideband: an approximation
 * (no Opus values are standardised in G.113), stated as such in docs/web-ui.md.
 */

/** Inputs of the quality estimate. */
export interface QualityInput {
  /** One-way mouth-to-ear delay, in ms. */
  oneWayDelayMs: number;
  /** Packet loss, in percent (0..100). */
  lossPct: number;
}

/** Transmission rating factor R (0..100). */
export function rFactor({ oneWayDelayMs, lossPct }: QualityInput): number {
  const d = Math.max(0, oneWayDelayMs);
  const id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
  const ie = 0;
  const bpl = 20;
  const ppl = Math.min(100, Math.max(0, lossPct));
  const ieEff = ie + ((95 - ie) * ppl) / (ppl + bpl);
  return Math.min(100, Math.max(0, 93.2 - id - ieEff));
}

/** MOS from R (G.107 Annex B, eq. B-4). */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}
