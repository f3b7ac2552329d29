/**
 * Interim E-model and adaptation policy, used until `packages/media`'s land. The E-model is the
 * simplified ITU-T G.107 (06/2015) form: R = Ro − Is − Id − Ie,eff + A with the default
 * Ro − Is = 93.2 (§7.1, all defaults), Id from the one-way delay alone (§7.4, Id = 0.024·Ta +
 * 0.11·(Ta − 177.3)·H(Ta − 177.3), the G.108 approximation), Ie,eff = Ie + (95 − Ie)·Ppl /
 * (Ppl/BurstR + Bpl) (§7.5), and MOS = 1 + 0.035R + 7·10⁻⁶·R(R−60)(100−R) (Annex B).
 * Opus has no ITU-T G.113 Ie/Bpl entry; we use Ie = 0 and Bpl = 20 (between G.711 with PLC,
 * Bpl = 25.1, and G.729A, Bpl = 19.0, G.113 Appendix I), a stated assumption.
 */
import type { AdaptInput, AdaptOutput, QualityModelPort } from './ports.ts';

const IE_OPUS = 0;
const BPL_OPUS = 20;

/** Grade from MOS. */
export function gradeOf(mos: number): string {
  if (mos >= 4.3) return 'excellent';
  if (mos >= 4.0) return 'good';
  if (mos >= 3.6) return 'fair';
  return 'poor';
}

/** Interim quality model. Keeps hysteresis state between calls to `adapt`. */
export class InterimQualityModel implements QualityModelPort {
  #quietSeconds = 0;

  assess(input: { oneWayDelayMs: number; lossPct: number; burstRatio: number }): {
    rFactor: number;
    mos: number;
    grade: string;
  } {
    const ta = Math.max(0, input.oneWayDelayMs);
    const id = 0.024 * ta + (ta > 177.3 ? 0.11 * (ta - 177.3) : 0);
    const ppl = Math.max(0, input.lossPct);
    const burst = Math.max(1, input.burstRatio);
    const ieEff = IE_OPUS + ((95 - IE_OPUS) * ppl) / (ppl / burst + BPL_OPUS);
    const r = Math.max(0, Math.min(100, 93.2 - id - ieEff));
    const mos = r <= 0 ? 1 : Math.min(4.5, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r));
    return { rFactor: r, mos, grade: gradeOf(mos) };
  }

  adapt(input: AdaptInput): AdaptOutput {
    const out: AdaptOutput = { changes: {}, suggestions: [] };
    const loss = Math.max(input.remoteLossPct, 0);
    if (loss >= 3) {
      this.#quietSeconds = 0;
      const pct = Math.min(30, Math.round(loss));
      if (!input.fec) {
        out.changes.fec = true;
        out.suggestions.push({
          en: `Loss ${pct}%: turn on FEC`,
          fr: `Perte ${pct} % : activer la FEC`,
        });
      }
      out.changes.expectedLossPct = pct;
      if (loss >= 8 && input.bitrateBps > 16_000) {
        out.changes.bitrateBps = Math.max(16_000, Math.round(input.bitrateBps * 0.75));
        out.suggestions.push({
          en: `Loss ${pct}%: lower the bitrate to ${Math.round(out.changes.bitrateBps / 1000)} kbit/s`,
          fr: `Perte ${pct} % : baisser le débit à ${Math.round(out.changes.bitrateBps / 1000)} kbit/s`,
        });
      }
    } else if (loss < 1) {
      // Hysteresis: only relax after 10 quiet seconds.
      this.#quietSeconds++;
      if (this.#quietSeconds >= 10 && input.fec) {
        out.changes.expectedLossPct = 0;
        this.#quietSeconds = 0;
      }
    }
    if (input.jitterMs > 30) {
      const j = Math.round(input.jitterMs);
      out.suggestions.push({
        en: `Jitter ${j} ms: the buffer grows; a wired connection would help`,
        fr: `Gigue ${j} ms : le tampon grandit ; une connexion filaire aiderait`,
      });
    }
    if (input.rttMs > 300) {
      const r = Math.round(input.rttMs);
      out.suggestions.push({
        en: `Round trip ${r} ms: conversation will feel delayed; try 10 ms frames`,
        fr: `Aller-retour ${r} ms : la conversation paraîtra décalée ; essayer des trames de 10 ms`,
      });
    }
    return out;
  }
}
