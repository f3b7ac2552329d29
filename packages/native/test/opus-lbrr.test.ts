/**
 * Where libopus really codes in-band FEC (LBRR), at the call's encoder settings (issue 24): the
 * adaptation policy's floor (`LBRR_MIN_EXPECTED_LOSS_PCT`, `LBRR_BITRATE_BPS`) rests on it. A probe
 * decodes the same previous packet into two decoders, then asks one for `decodeFec(next)` and the
 * other for PLC: without LBRR the two are bit-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpusDecoder, OpusEncoder } from '../index.ts';
import { makeSpeech } from './speech.ts';

const FRAME = 960;

/** % of active 20 ms frames whose FEC output differs from PLC's. */
function lbrrPct(pcm: Int16Array, bitrate: number, expectedLossPct: number): number {
  const enc = new OpusEncoder({
    sampleRate: 48_000,
    channels: 1,
    application: 'voip',
    signal: 'voice',
    complexity: 5,
  });
  enc.bitrate = bitrate;
  enc.fec = true;
  enc.packetLossPerc = expectedLossPct;
  const packets: Uint8Array[] = [];
  for (let i = 0; i + FRAME <= pcm.length; i += FRAME) {
    packets.push(Uint8Array.from(enc.encode(pcm.subarray(i, i + FRAME))));
  }
  enc.close();
  const a = new OpusDecoder({ sampleRate: 48_000, channels: 1 });
  const b = new OpusDecoder({ sampleRate: 48_000, channels: 1 });
  let probes = 0;
  let differ = 0;
  for (let k = 1; k + 1 < packets.length; k++) {
    let e = 0;
    for (let i = k * FRAME; i < (k + 1) * FRAME; i++) e += (pcm[i] ?? 0) ** 2;
    if (Math.sqrt(e / FRAME) < 300) continue;
    const prev = packets[k - 1];
    const next = packets[k + 1];
    if (!prev || !next) continue;
    a.reset();
    b.reset();
    a.decode(prev);
    b.decode(prev);
    const fec = a.decodeFec(next, FRAME);
    const plc = b.conceal(FRAME);
    probes++;
    if (fec.some((v, i) => v !== plc[i])) differ++;
  }
  a.close();
  b.close();
  assert.ok(probes >= 50, `only ${probes} active frames`);
  return (100 * differ) / probes;
}

test('LBRR: none at 0 % expected loss; coded at the policy floor (6 % at 32 kbit/s, 40 kbit/s)', () => {
  const pcm = makeSpeech(
    'Could you please send me the report before Friday afternoon? The train leaves at five forty.',
  );
  // The call's start (32 kbit/s, FEC allowed, 0 %): "FEC" is PLC, bit for bit.
  assert.equal(lbrrPct(pcm, 32_000, 0), 0);
  // Below the floor at 32 kbit/s libopus still codes none (why the old 2 % rule protected nothing).
  assert.equal(lbrrPct(pcm, 32_000, 3), 0);
  // At the floor, and with the policy's 40 kbit/s, LBRR is really there.
  assert.ok(lbrrPct(pcm, 32_000, 6) >= 90);
  assert.ok(lbrrPct(pcm, 40_000, 6) >= 90);
  assert.ok(lbrrPct(pcm, 40_000, 1) >= 90);
});
