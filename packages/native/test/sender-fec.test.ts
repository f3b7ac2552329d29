/**
 * FEC shown by its effect in the encoder's stats (issue 25 §5): `lbrrPackets` counts the encoded
 * frames that carry SILK LBRR data, read from each packet the C sender's encoder produced
 * (src/opus_lbrr.h), not the setting asked for. FEC on with an expected loss makes LBRR frames;
 * FEC off stops them at once, in the same call (same encoder, same stream).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeRtpSender } from '../index.ts';
import { waitFor } from './wait.ts';

const RATE = 48_000;

/** A voiced, gliding, amplitude-modulated signal with a little noise: SILK codes it as speech. */
function voiced(seconds: number): Int16Array {
  const pcm = new Int16Array(seconds * RATE);
  let seed = 1;
  for (let i = 0; i < pcm.length; i++) {
    const t = i / RATE;
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    const f = 180 + 60 * Math.sin(3 * t);
    const v = 6000 * Math.sin(2 * Math.PI * f * t) * (0.5 + 0.5 * Math.sin(5 * t));
    pcm[i] = Math.round(v + ((seed % 600) - 300));
  }
  return pcm;
}

test('FEC on with 20 % expected loss: LBRR frames in the encoded packets; FEC off: none from then on', async () => {
  const frames: number[] = [];
  const tx = new NativeRtpSender({
    frameSamples: 960,
    bitrateBps: 32_000,
    onFrame: (payload) => frames.push(payload.length),
  });
  try {
    tx.setExpectedLoss(20);
    tx.setFec(true);
    tx.startPaced(voiced(12));
    await waitFor(() => tx.stats().lbrrPackets >= 10, 'LBRR frames with FEC on', {
      timeoutMs: 15_000,
    });
    const on = { lbrr: tx.stats().lbrrPackets, frames: frames.length };
    tx.setFec(false);
    // The setting applies before the next frame is encoded; allow one frame in flight.
    const atOff = frames.length + 1;
    await waitFor(() => frames.length >= atOff + 100, '2 s of frames with FEC off', {
      timeoutMs: 15_000,
    });
    const lbrrAtOff = tx.stats().lbrrPackets;
    const off = { lbrr: lbrrAtOff, frames: frames.length };
    await waitFor(() => frames.length >= off.frames + 50, '1 s more', { timeoutMs: 15_000 });
    assert.ok(on.lbrr >= 10, `FEC on: ${on.lbrr} LBRR frames of ${on.frames}`);
    // At most the frame in flight at the switch carried LBRR after FEC went off.
    assert.ok(lbrrAtOff - on.lbrr <= 2, `after FEC off: ${lbrrAtOff - on.lbrr} more LBRR frames`);
    assert.equal(tx.stats().lbrrPackets, lbrrAtOff, 'no LBRR frame once FEC is off');
    // And on again: LBRR comes back.
    tx.setFec(true);
    await waitFor(() => tx.stats().lbrrPackets > lbrrAtOff + 5, 'LBRR again with FEC on', {
      timeoutMs: 15_000,
    });
  } finally {
    tx.close();
  }
});

test('no expected loss: FEC on alone adds no LBRR (Opus codes it only for a loss above 0)', async () => {
  const frames: number[] = [];
  const tx = new NativeRtpSender({
    frameSamples: 960,
    bitrateBps: 32_000,
    onFrame: (payload) => frames.push(payload.length),
  });
  try {
    tx.setExpectedLoss(0);
    tx.setFec(true);
    tx.startPaced(voiced(4));
    await waitFor(() => frames.length >= 100, '2 s of frames', { timeoutMs: 15_000 });
    assert.equal(tx.stats().lbrrPackets, 0);
  } finally {
    tx.close();
  }
});
