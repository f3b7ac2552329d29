/** Unit tests: the engine's quality port over `@parloir/media`'s E-model and policy. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AdaptInput } from './ports.ts';
import { MediaQualityModel } from './media-quality.ts';

const calm: AdaptInput = {
  remoteLossPct: 0,
  lossPct: 0,
  jitterMs: 2,
  rttMs: 2,
  oneWayDelayMs: 80,
  latePackets: 0,
  jbTargetMs: 40,
  bitrateBps: 32_000,
  fec: false,
  expectedLossPct: 0,
  frameMs: 20,
  jbMinMs: 20,
};

test('E-model: G.107 defaults give MOS 4.41; loss and delay lower it; FEC raises Bpl', () => {
  const q = new MediaQualityModel();
  const base = { oneWayDelayMs: 0, lossPct: 0, burstRatio: 1, bitrateBps: 32_000, fec: true };
  const clean = q.assess(base);
  assert.ok(Math.abs(clean.rFactor - 93.2) < 0.2, `R ${clean.rFactor}`);
  assert.ok(Math.abs(clean.mos - 4.41) < 0.02, `MOS ${clean.mos}`);
  assert.equal(clean.grade, 'excellent');
  const lossy = q.assess({ ...base, lossPct: 5, fec: false });
  const lossyFec = q.assess({ ...base, lossPct: 5 });
  assert.ok(lossy.mos < lossyFec.mos && lossyFec.mos < clean.mos);
  assert.ok(q.assess({ ...base, oneWayDelayMs: 400 }).mos < clean.mos - 0.5);
  assert.ok(q.assess({ ...base, bitrateBps: 8_000 }).mos < clean.mos, 'low bitrate has an Ie');
});

test('policy: sustained loss turns FEC on once, in bit/s, with id, en/fr and the change', () => {
  const q = new MediaQualityModel();
  let fec = false;
  let expected = 0;
  const fired: string[] = [];
  for (let w = 0; w < 12; w++) {
    const out = q.adapt({ ...calm, remoteLossPct: 6, fec, expectedLossPct: expected });
    for (const s of out.suggestions) fired.push(s.id);
    if (out.changes.fec !== undefined) {
      const s = out.suggestions.find((x) => x.id === 'fec-on');
      assert.ok(s !== undefined);
      assert.match(s.en, /FEC/);
      assert.match(s.fr, /FEC/);
      assert.equal(s.change?.fec, true);
      fec = out.changes.fec;
    }
    if (out.changes.expectedLossPct !== undefined) expected = out.changes.expectedLossPct;
    // 6 % is not congestion: the bitrate may rise to carry LBRR (issue 24), never drop.
    assert.ok((out.changes.bitrateBps ?? 32_000) >= 32_000, '6 % is not congestion');
  }
  assert.equal(fired.filter((id) => id === 'fec-on').length, 1, 'hysteresis: no flapping');
  assert.ok(fec && expected >= 2, `fec ${fec}, expected loss ${expected}`);
  // Heavy loss lowers the bitrate, reported in bit/s.
  const heavy = new MediaQualityModel();
  let bitrate: number | undefined;
  for (let w = 0; w < 10 && bitrate === undefined; w++)
    bitrate = heavy.adapt({ ...calm, remoteLossPct: 25, fec: true }).changes.bitrateBps;
  assert.equal(bitrate, 24_000);
  // Late packets raise the buffer floor.
  const late = new MediaQualityModel().adapt({ ...calm, latePackets: 5, jbTargetMs: 90 });
  assert.equal(late.changes.jbMinMs, 90);
});
