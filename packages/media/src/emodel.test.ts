import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eModel, g711Impairment, gradeFor, opusImpairment, rToMos } from './emodel.ts';

// Reference values:
// - ITU-T G.107 (06/2015) §7.7: with all parameters at their Table 3 defaults, R = 93.2;
//   the intermediate values Ro = 94.77 and Is = 1.41 are those G.107's default case gives.
// - G.107 Annex B eq. B-4 for MOS; R = 93.2 → MOS 4.41.
// - Ie,eff (G.107 eq. 7-29) with the G.113 Appendix I values for G.711 + PLC (Ie 0, Bpl 25.1).

test('default parameters: R ≈ 93.2 and MOS ≈ 4.41 (ITU-T G.107)', () => {
  const e = eModel();
  assert.equal(Math.round(e.r * 10) / 10, 93.2);
  assert.equal(Math.round(e.ro * 100) / 100, 94.77);
  assert.equal(Math.round(e.is * 100) / 100, 1.41);
  assert.equal(Math.round(e.mos * 100) / 100, 4.41);
  assert.equal(e.grade, 'excellent');
});

test('delay impairment: no Idd up to 100 ms, then R falls monotonically', () => {
  const r100 = eModel({ ta: 100 }).r;
  assert.ok(eModel({ ta: 50 }).r - r100 < 2.5, 'only the small echo terms below 100 ms');
  let prev = r100;
  for (const ta of [150, 200, 300, 400, 600]) {
    const r = eModel({ ta }).r;
    assert.ok(r < prev, `R decreases at ${ta} ms`);
    prev = r;
  }
  // G.114: up to 150 ms one-way most applications are unaffected (R stays high).
  assert.ok(eModel({ ta: 150 }).r > 85);
  assert.ok(eModel({ ta: 400 }).r < 70);
});

test('loss: Ie,eff per G.107 eq. 7-29 with G.711 + PLC values from G.113 Appendix I', () => {
  const { ie, bpl } = g711Impairment(true);
  assert.deepEqual({ ie, bpl }, { ie: 0, bpl: 25.1 });
  const e = eModel({ ie, bpl, ppl: 2 });
  assert.equal(Math.round(e.ieEff * 100) / 100, Math.round(((95 * 2) / (2 + 25.1)) * 100) / 100);
  assert.ok(Math.abs(e.r - (eModel().r - e.ieEff)) < 1e-9);
  // Bursty loss hurts more than random loss of the same rate.
  assert.ok(eModel({ ie, bpl, ppl: 5, burstR: 3 }).r < eModel({ ie, bpl, ppl: 5 }).r);
  // Without PLC G.711 suffers much more.
  assert.ok(eModel({ ...g711Impairment(false), ppl: 2 }).r < e.r - 15);
});

test('Opus approximation: lower bitrate and no FEC rate lower', () => {
  assert.equal(opusImpairment(32, true).ie, 0);
  assert.ok(opusImpairment(8, false).ie > opusImpairment(16, false).ie);
  assert.ok(opusImpairment(24, true).bpl > opusImpairment(24, false).bpl);
});

test('MOS mapping and grades', () => {
  assert.equal(rToMos(0), 1);
  assert.equal(rToMos(100), 4.5);
  assert.equal(Math.round(rToMos(50) * 100) / 100, 2.58);
  assert.equal(gradeFor(85), 'excellent');
  assert.equal(gradeFor(75), 'good');
  assert.equal(gradeFor(65), 'fair');
  assert.equal(gradeFor(40), 'poor');
});
