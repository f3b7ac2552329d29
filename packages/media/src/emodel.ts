/**
 * The E-model, ITU-T G.107 (06/2015), narrowband: the transmission rating R from delay, codec
 * impairment and packet loss, and its mapping to MOS (G.107 Annex B, eq. B-4).
 *
 * Every formula below is G.107 §7 (equation numbers in comments); the default parameter values are
 * G.107 Table 3. With all defaults R = 93.2 (G.107 §7.7 note) and MOS = 4.41.
 *
 * Codec values (Ie equipment impairment, Bpl packet-loss robustness):
 * - G.711: Ie = 0 (ITU-T G.113 Appendix I, Table I.1); Bpl = 4.3 without PLC and 25.1 with the
 *   G.711 Appendix I PLC (G.113 Appendix I, Table I.3). Our G.711 receiver conceals, so 25.1.
 * - Opus: ITU-T has published no provisional Ie/Bpl for Opus. The values in {@link opusImpairment}
 *   are an approximation of ours, documented as such: Ie falls with bitrate the way the G.113
 *   values for wideband-capable codecs of similar bitrates do (AMR-WB, G.722.2 at 12–24 kbit/s),
 *   clamped to the narrowband scale, and Bpl is set like a codec with good PLC (≈ G.711 + PLC),
 *   raised when in-band FEC is on because FEC turns isolated losses into near-transparent ones.
 */

/** G.107 parameters; every field optional, defaults from G.107 Table 3. */
export interface EModelParams {
  /** Send loudness rating, dB. Default 8. */
  slr?: number;
  /** Receive loudness rating, dB. Default 2. */
  rlr?: number;
  /** Sidetone masking rating, dB. Default 15. */
  stmr?: number;
  /** Listener sidetone rating, dB. Default 18. */
  lstr?: number;
  /** D-value of telephone, send side. Default 3. */
  ds?: number;
  /** D-value of telephone, receive side. Default 3. */
  dr?: number;
  /** Talker echo loudness rating, dB. Default 65. */
  telr?: number;
  /** Weighted echo path loss, dB. Default 110. */
  wepl?: number;
  /** Mean one-way delay of the echo path, ms. Default: `ta`. */
  t?: number;
  /** Round-trip delay in a 4-wire loop, ms. Default: 2 × `ta`. */
  tr?: number;
  /** Absolute (mouth-to-ear) one-way delay, ms. Default 0. */
  ta?: number;
  /** Number of quantisation distortion units. Default 1. */
  qdu?: number;
  /** Equipment impairment factor of the codec. Default 0. */
  ie?: number;
  /** Packet-loss robustness factor of the codec. Default 4.3 (G.711 without PLC). */
  bpl?: number;
  /** Random packet-loss probability, %. Default 0. */
  ppl?: number;
  /** Burst ratio (1 = random loss, > 1 bursty). Default 1. */
  burstR?: number;
  /** Circuit noise at the 0 dBr point, dBm0p. Default −70. */
  nc?: number;
  /** Noise floor at the receive side, dBmp. Default −64. */
  nfor?: number;
  /** Room noise at the send side, dB(A). Default 35. */
  ps?: number;
  /** Room noise at the receive side, dB(A). Default 35. */
  pr?: number;
  /** Advantage factor (expectation). Default 0. */
  a?: number;
}

/** Breakdown of an R computation. */
export interface EModelResult {
  /** Transmission rating factor R (0..~93.2 narrowband). */
  r: number;
  /** Basic signal-to-noise ratio Ro. */
  ro: number;
  /** Simultaneous impairment Is. */
  is: number;
  /** Delay impairment Id. */
  id: number;
  /** Effective equipment impairment Ie,eff. */
  ieEff: number;
  /** MOS (conversational quality, estimated), 1..4.5. */
  mos: number;
  /** Grade for display. */
  grade: QualityGrade;
}

/** Quality grades shown to users. */
export type QualityGrade = 'excellent' | 'good' | 'fair' | 'poor';

const log10 = Math.log10;

/** Computes R (G.107 eq. 7-1: R = Ro − Is − Id − Ie,eff + A) and MOS. */
export function eModel(params: EModelParams = {}): EModelResult {
  const slr = params.slr ?? 8;
  const rlr = params.rlr ?? 2;
  const stmr = params.stmr ?? 15;
  const lstr = params.lstr ?? 18;
  const ds = params.ds ?? 3;
  const telr = params.telr ?? 65;
  const wepl = params.wepl ?? 110;
  const ta = Math.max(0, params.ta ?? 0);
  const t = Math.max(0, params.t ?? ta);
  const tr = Math.max(0, params.tr ?? 2 * ta);
  const qdu = Math.max(1, params.qdu ?? 1);
  const ie = params.ie ?? 0;
  const bpl = params.bpl ?? 4.3;
  const ppl = Math.min(100, Math.max(0, params.ppl ?? 0));
  const burstR = Math.max(1, params.burstR ?? 1);
  const nc = params.nc ?? -70;
  const nfor = params.nfor ?? -64;
  const ps = params.ps ?? 35;
  const pr = params.pr ?? 35;
  const a = params.a ?? 0;

  // §7.2 Ro, eqs. 7-2 … 7-7.
  const olr = slr + rlr;
  const nos = ps - slr - ds - 100 + 0.004 * (ps - olr - ds - 14) ** 2;
  const pre = pr + 10 * log10(1 + 10 ** ((10 - lstr) / 10));
  const nor = rlr - 121 + pre + 0.008 * (pre - 35) ** 2;
  const nfo = nfor + rlr;
  const no = 10 * log10(10 ** (nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10));
  const ro = 15 - 1.5 * (slr + no);

  // §7.3 Is, eqs. 7-8 … 7-17.
  const xolr = olr + 0.2 * (64 + no - rlr);
  const iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8);
  const stmro = -10 * log10(10 ** (-stmr / 10) + Math.exp(-t / 4) * 10 ** (-telr / 10));
  const ist =
    12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8) -
    28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35) -
    13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13) +
    29;
  const q = 37 - 15 * log10(qdu);
  const g = 1.07 + 0.258 * q + 0.0602 * q * q;
  const y = (ro - 100) / 15 + 46 / 8.4 - g / 9;
  const z = 46 / 30 - g / 40;
  const iq = 15 * log10(1 + 10 ** y + 10 ** z);
  const is = iolr + ist + iq;

  // §7.4 Id = Idte + Idle + Idd, eqs. 7-18 … 7-28.
  const terv = telr - 40 * log10((1 + t / 10) / (1 + t / 150)) + 6 * Math.exp(-0.3 * t * t);
  const roe = -1.5 * (no - rlr);
  const re = 80 + 2.5 * (terv - 14);
  const idte = ((roe - re) / 2 + Math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - Math.exp(-t));
  const rle = 10.5 * (wepl + 7) * (tr + 1) ** -0.25;
  const idle = (ro - rle) / 2 + Math.sqrt((ro - rle) ** 2 / 4 + 169);
  let idd = 0;
  if (ta > 100) {
    const x = log10(ta / 100) / log10(2);
    idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2);
  }
  const id = idte + idle + idd;

  // §7.5 Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl), eq. 7-29.
  const ieEff = ie + ((95 - ie) * ppl) / (ppl / burstR + bpl);

  const r = ro - is - id - ieEff + a;
  const mos = rToMos(r);
  return { r, ro, is, id, ieEff, mos, grade: gradeFor(r) };
}

/** G.107 Annex B eq. B-4: MOS = 1 + 0.035R + 7·10⁻⁶·R(R−60)(100−R), clamped to [1, 4.5]. */
export function rToMos(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

/**
 * Grade from R, after the G.109 user-satisfaction bands: ≥ 80 "satisfied" (excellent), 70–80
 * "some users dissatisfied" (good), 60–70 "many dissatisfied" (fair), below 60 poor.
 */
export function gradeFor(r: number): QualityGrade {
  if (r >= 80) return 'excellent';
  if (r >= 70) return 'good';
  if (r >= 60) return 'fair';
  return 'poor';
}

/** Ie and Bpl for a codec configuration. */
export interface CodecImpairment {
  /** Equipment impairment factor. */
  ie: number;
  /** Packet-loss robustness factor. */
  bpl: number;
}

/** G.711 (G.113 Appendix I): Ie 0; Bpl 25.1 with PLC, 4.3 without. */
export function g711Impairment(withPlc = true): CodecImpairment {
  return { ie: 0, bpl: withPlc ? 25.1 : 4.3 };
}

/**
 * Opus: approximation (no ITU-T value exists; see the module comment).
 * @param bitrateKbps encoder bitrate, kbit/s.
 * @param fec whether in-band FEC is on.
 */
export function opusImpairment(bitrateKbps: number, fec: boolean): CodecImpairment {
  const points: [number, number][] = [
    [6, 30],
    [8, 20],
    [12, 11],
    [16, 5],
    [24, 0],
  ];
  let ie = 0;
  if (bitrateKbps < 24) {
    ie = 30;
    for (let i = 0; i < points.length - 1; i++) {
      const [b0, i0] = points[i] ?? [0, 0];
      const [b1, i1] = points[i + 1] ?? [0, 0];
      if (bitrateKbps >= b0 && bitrateKbps <= b1)
        ie = i0 + ((i1 - i0) * (bitrateKbps - b0)) / (b1 - b0);
    }
  }
  return { ie, bpl: fec ? 35 : 25 };
}
