import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OPUS_FRAME_MS,
  OpusDecoder,
  OpusEncoder,
  OpusError,
  opusFrameSamples,
  opusPacketInfo,
  type OpusEncoderOptions,
} from '../index.ts';
import { bestLag, makeSpeech, snrDb } from './speech.ts';

const RATE = 48000;
const FRAME = 960;
const speech = makeSpeech(
  'Bonjour, ceci est un essai de Parloir. The quick brown fox jumps over the lazy dog.',
);
const nFrames = Math.floor(speech.length / FRAME);
const frameAt = (i: number) => speech.subarray(i * FRAME, (i + 1) * FRAME);

const voice: OpusEncoderOptions = {
  sampleRate: RATE,
  channels: 1,
  application: 'voip',
  bitrate: 32000,
  fec: true,
  packetLossPerc: 20,
  signal: 'voice',
};

function encodeAll(options: OpusEncoderOptions): Uint8Array[] {
  const enc = new OpusEncoder(options);
  const packets: Uint8Array[] = [];
  for (let i = 0; i < nFrames; i++) packets.push(enc.encode(frameAt(i)));
  enc.close();
  return packets;
}

const packets = encodeAll(voice);

function assertOpusError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OpusError, `expected OpusError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(err.message.length > 0);
    return true;
  });
}

// Opus is a perceptual codec: at 32 kbit/s on speech the waveform SNR is modest (8.3 dB measured
// with libopus 1.3.1 when this test was written). The floor of 5 dB catches a broken pipeline
// (wrong rate, channel mix-up, misalignment, garbage) without depending on encoder tuning.
const SNR_FLOOR_DB = 5;

test(`speech round trip at 32 kbit/s keeps SNR above ${SNR_FLOOR_DB} dB`, () => {
  assert.ok(nFrames > 100, `espeak-ng speech too short: ${nFrames} frames`);
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const out = new Int16Array(nFrames * FRAME);
  packets.forEach((p, i) => out.set(dec.decode(p), i * FRAME));
  assert.equal(dec.lastPacketDuration, FRAME);
  const lag = bestLag(speech, out, 1000);
  const snr = snrDb(speech.subarray(0, nFrames * FRAME - lag), out, lag);
  console.log(`SNR ${snr.toFixed(2)} dB at lag ${lag} samples over ${nFrames} frames`);
  assert.ok(snr > SNR_FLOOR_DB, `SNR ${snr.toFixed(2)} dB`);
  // The decoder's delay is the encoder's lookahead (RFC 6716 §4.3.7 / libopus), give or take.
  assert.ok(Math.abs(lag - 312) < 40, `lag ${lag}`);
});

test('a dropped packet: decodeFec from the next packet beats conceal, measured on the original', () => {
  const ref = (() => {
    const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
    const out = new Int16Array(nFrames * FRAME);
    packets.forEach((p, i) => out.set(dec.decode(p), i * FRAME));
    return out;
  })();
  const lag = bestLag(speech, ref, 1000);
  let fecErr = 0;
  let plcErr = 0;
  let trials = 0;
  let fecWins = 0;
  for (let k = 10; k < nFrames - 2; k += 9) {
    // Only voiced, loud frames: concealing silence is trivially right for both.
    let energy = 0;
    for (const x of frameAt(k)) energy += x * x;
    if (energy < 1e9) continue;
    const a = new OpusDecoder({ sampleRate: RATE, channels: 1 });
    const b = new OpusDecoder({ sampleRate: RATE, channels: 1 });
    for (let i = 0; i < k; i++) {
      a.decode(packets[i] as Uint8Array);
      b.decode(packets[i] as Uint8Array);
    }
    const fec = a.decodeFec(packets[k + 1] as Uint8Array, FRAME);
    const plc = b.conceal(FRAME);
    assert.equal(fec.length, FRAME);
    assert.equal(plc.length, FRAME);
    // Output sample j of frame k corresponds to original sample k*FRAME + j - lag.
    let ef = 0;
    let ec = 0;
    for (let j = 0; j < FRAME; j++) {
      const x = speech[k * FRAME + j - lag] ?? 0;
      ef += ((fec[j] ?? 0) - x) ** 2;
      ec += ((plc[j] ?? 0) - x) ** 2;
    }
    fecErr += ef;
    plcErr += ec;
    trials++;
    if (ef < ec) fecWins++;
    a.close();
    b.close();
  }
  const ratio = fecErr / plcErr;
  console.log(
    `FEC/PLC squared error ratio ${ratio.toFixed(3)}; FEC closer in ${fecWins}/${trials} frames`,
  );
  assert.ok(trials >= 10, `only ${trials} voiced frames`);
  assert.ok(ratio < 0.8, `FEC error is ${ratio.toFixed(3)} of PLC error`);
  assert.ok(fecWins > trials / 2);
});

test('conceal returns exactly the samples asked for', () => {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  dec.decode(packets[0] as Uint8Array);
  assert.equal(dec.conceal(480).length, 480);
  assert.equal(dec.lastPacketDuration, 480);
  for (const n of [120, 240, 960, 1920, 2880]) assert.equal(dec.conceal(n).length, n);
  const stereo = new OpusDecoder({ sampleRate: 24000, channels: 2 });
  assert.equal(stereo.conceal(240).length, 480);
});

test('every rate, channel count, application and frame size encodes and decodes', () => {
  for (const rate of [8000, 12000, 16000, 24000, 48000] as const) {
    for (const channels of [1, 2] as const) {
      for (const application of ['voip', 'audio', 'restricted-lowdelay'] as const) {
        const enc = new OpusEncoder({ sampleRate: rate, channels, application });
        const dec = new OpusDecoder({ sampleRate: rate, channels });
        for (const ms of OPUS_FRAME_MS) {
          enc.frameMs = ms;
          const n = opusFrameSamples(rate, ms);
          assert.equal(enc.frameSamples, n);
          const pcm = new Int16Array(n * channels).map((_, i) =>
            Math.round(3000 * Math.sin(i / 7)),
          );
          const pkt = enc.encode(pcm);
          assert.equal(opusPacketInfo(pkt, rate).samples, n);
          assert.equal(dec.decode(pkt).length, n * channels);
        }
        enc.close();
        dec.close();
      }
    }
  }
});

test('encoder settings can be set at any time and read back', () => {
  const enc = new OpusEncoder({ sampleRate: RATE, channels: 1, application: 'voip' });
  enc.encode(frameAt(50));
  enc.bitrate = 24000;
  assert.equal(enc.bitrate, 24000);
  enc.complexity = 3;
  assert.equal(enc.complexity, 3);
  enc.fec = true;
  assert.equal(enc.fec, true);
  enc.packetLossPerc = 15;
  assert.equal(enc.packetLossPerc, 15);
  enc.dtx = true;
  assert.equal(enc.dtx, true);
  enc.vbr = false;
  assert.equal(enc.vbr, false);
  enc.vbr = true;
  enc.cvbr = false;
  assert.equal(enc.cvbr, false);
  enc.maxBandwidth = 'wideband';
  assert.equal(enc.maxBandwidth, 'wideband');
  enc.signal = 'music';
  assert.equal(enc.signal, 'music');
  assert.equal(enc.application, 'voip');
  assert.equal(enc.lookahead, 312);
  // A mid-stream change applies to the next frame: the wideband cap shows in the packet TOC.
  const info = opusPacketInfo(enc.encode(frameAt(51)), RATE);
  assert.ok(['narrowband', 'mediumband', 'wideband'].includes(info.bandwidth), info.bandwidth);
  enc.frameMs = 10;
  assert.equal(enc.encode(frameAt(52).subarray(0, 480)).length > 0, true);
  enc.reset();
  enc.close();
});

test('encodeInto writes into a caller buffer', () => {
  const enc = new OpusEncoder({
    sampleRate: RATE,
    channels: 1,
    application: 'voip',
    bitrate: 32000,
  });
  const out = new Uint8Array(1500);
  const n = enc.encodeInto(frameAt(60), out);
  assert.ok(n > 0 && n < 1500);
  assertOpusError(
    () => enc.encodeInto(frameAt(61), new Uint8Array(0)),
    'OPUS_ERR_BUFFER_TOO_SMALL',
  );
  // With one byte libopus still emits a valid TOC-only packet (decoded as a lost frame).
  assert.equal(enc.encodeInto(frameAt(61), new Uint8Array(1)), 1);
});

test('bad input: every error is a typed OpusError, never a crash', () => {
  const enc = new OpusEncoder({ sampleRate: RATE, channels: 1, application: 'voip' });
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const bad = (x: unknown) => x as never;
  // Constructors.
  assertOpusError(() => new OpusEncoder({ ...voice, sampleRate: bad(44100) }), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => new OpusEncoder({ ...voice, channels: bad(3) }), 'OPUS_ERR_BAD_ARG');
  assertOpusError(
    () => new OpusEncoder({ ...voice, application: bad('karaoke') }),
    'OPUS_ERR_BAD_ARG',
  );
  assertOpusError(
    () => new OpusEncoder({ ...voice, sampleRate: bad('48000') }),
    'OPUS_ERR_BAD_ARG',
  );
  assertOpusError(
    () => new OpusDecoder({ sampleRate: bad(96000), channels: 1 }),
    'OPUS_ERR_BAD_ARG',
  );
  assertOpusError(
    () => new OpusDecoder({ sampleRate: RATE, channels: bad(0) }),
    'OPUS_ERR_BAD_ARG',
  );
  // Wrong PCM length for the frame size, wrong types.
  assertOpusError(() => enc.encode(new Int16Array(959)), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => enc.encode(new Int16Array(0)), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => enc.encode(bad(new Float32Array(960))), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => enc.encode(bad(new Uint8Array(1920))), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => enc.encode(bad('pcm')), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => enc.encode(bad(undefined)), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.frameMs = bad(15)), 'OPUS_ERR_BAD_ARG');
  // Out-of-range settings carry libopus's message.
  assertOpusError(() => (enc.complexity = 11), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.packetLossPerc = 101), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.bitrate = 0), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.bitrate = bad(1.5)), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.fec = bad(1)), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.signal = bad('noise')), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => (enc.maxBandwidth = bad('ultraband')), 'OPUS_ERR_BAD_ARG');
  // Corrupt, empty and mistyped packets.
  assertOpusError(() => dec.decode(new Uint8Array(0)), 'OPUS_ERR_INVALID_PACKET');
  assertOpusError(() => dec.decode(new Uint8Array([0xff, 0xff, 0xff])), 'OPUS_ERR_INVALID_PACKET');
  assertOpusError(() => dec.decode(bad([1, 2, 3])), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.decode(bad(new Int16Array(10))), 'OPUS_ERR_BAD_ARG');
  assertOpusError(
    () => dec.decodeFec(new Uint8Array([0xff, 0xff, 0xff]), 960),
    'OPUS_ERR_INVALID_PACKET',
  );
  assertOpusError(() => dec.decodeFec(packets[1] as Uint8Array, 1000), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.decodeFec(packets[1] as Uint8Array, bad('960')), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.conceal(481), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.conceal(0), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.conceal(-480), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.conceal(1e9), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => dec.conceal(NaN), 'OPUS_ERR_BAD_ARG');
  assertOpusError(() => opusPacketInfo(new Uint8Array(0), RATE), 'OPUS_ERR_INVALID_PACKET');
  // Use after close.
  enc.close();
  enc.close();
  dec.close();
  dec.close();
  assertOpusError(() => enc.encode(frameAt(1)), 'OPUS_ERR_CLOSED');
  assertOpusError(() => enc.bitrate, 'OPUS_ERR_CLOSED');
  assertOpusError(() => enc.reset(), 'OPUS_ERR_CLOSED');
  assertOpusError(() => dec.decode(packets[0] as Uint8Array), 'OPUS_ERR_CLOSED');
  assertOpusError(() => dec.decodeFec(packets[0] as Uint8Array, 960), 'OPUS_ERR_CLOSED');
  assertOpusError(() => dec.conceal(480), 'OPUS_ERR_CLOSED');
  assertOpusError(() => dec.lastPacketDuration, 'OPUS_ERR_CLOSED');
});

test('fuzz: random and mutated packets decode or throw OpusError, never crash', () => {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 2 });
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    let pkt: Uint8Array;
    if (i % 2 === 0) {
      pkt = new Uint8Array(1 + Math.floor(rnd() * 400)).map(() => Math.floor(rnd() * 256));
    } else {
      pkt = (packets[i % packets.length] as Uint8Array).slice();
      for (let m = 0; m < 1 + Math.floor(rnd() * 4); m++) {
        pkt[Math.floor(rnd() * pkt.length)] = Math.floor(rnd() * 256);
      }
      if (rnd() < 0.2) pkt = pkt.subarray(0, Math.floor(rnd() * pkt.length) + 1);
    }
    try {
      const out = i % 3 === 0 ? dec.decodeFec(pkt, 960) : dec.decode(pkt);
      assert.ok(out instanceof Int16Array && out.length % 2 === 0);
      decoded++;
    } catch (err) {
      assert.ok(err instanceof OpusError, String(err));
      rejected++;
    }
  }
  console.log(`fuzz: ${decoded} decoded, ${rejected} rejected`);
  assert.ok(decoded > 0 && rejected > 0);
});
