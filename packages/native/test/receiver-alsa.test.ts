import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAlsaConfig } from './alsa-config.ts';
import { JITTER } from './receiver-options.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

// Real libasound through the file plugin over `null` (which keeps no time of its own, so the
// playback thread paces itself): the configuration must be in place before the addon first
// opens a PCM, hence before the dynamic import below.
const RATE = 48_000;
const dir = mkdtempSync(join(tmpdir(), 'parloir-receiver-alsa-'));
const out = join(dir, 'out.raw');
const out16k = join(dir, 'out16k.raw');
process.env.ALSA_CONFIG_PATH = writeAlsaConfig(dir, { playback: { splay: out, s16k: out16k } });
const { AlsaError, NativeRtpReceiver, NativeRtpSender, PcmPlayback, setUdpReading, udpSocketFd } =
  await import('../index.ts');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

/** Share of the energy at `hz` over 10 ms windows (hz a multiple of 100), 0..1. */
function toneShare(pcm: Int16Array, hz: number): number {
  const c = 2 * Math.cos((2 * Math.PI * hz) / RATE);
  let tone = 0;
  let total = 0;
  for (let w = 0; w + 480 <= pcm.length; w += 480) {
    let s1 = 0;
    let s2 = 0;
    for (let i = w; i < w + 480; i++) {
      const s0 = (pcm[i] ?? 0) + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      total += (pcm[i] ?? 0) ** 2;
    }
    tone += (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / 480;
  }
  return total === 0 ? 0 : tone / total;
}

test('the ALSA playback thread pulls the native receiver: the peer tone plays in real time, from C to the device', async () => {
  const tx = await bound();
  const rx = await bound();
  const key = randomBytes(16);
  const salt = randomBytes(12);
  assert.ok(setUdpReading(rx, false));
  const receiver = new NativeRtpReceiver({
    fd: udpSocketFd(rx)!,
    address: '127.0.0.1',
    port: tx.address().port,
    payloadTypes: [111],
    key,
    salt,
    jitter: JITTER,
    onDatagram: () => undefined,
  });
  receiver.learnSsrc(7, 0, 99);
  receiver.start();
  const sender = new NativeRtpSender(
    senderOptions(udpSocketFd(tx)!, rx.address().port, {
      ssrc: 7,
      key,
      salt,
      sequenceNumber: 100,
    }),
  );
  const tone = new Int16Array(3 * RATE);
  for (let i = 0; i < tone.length; i++)
    tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 600 * i) / RATE));
  const play = new PcmPlayback({
    device: 'splay',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    bufferFrames: 1920,
  });
  play.attachReceiver(receiver);
  sender.startPaced(tone);
  const t0 = performance.now();
  await waitFor(() => receiver.stats().jitterBuffer.packetsPlayed >= 60, '60 packets played');
  const st = receiver.stats();
  play.close();
  const secs = (performance.now() - t0) / 1000;
  sender.close();
  receiver.close();
  tx.close();
  rx.close();
  const pcm = new Int16Array(new Uint8Array(readFileSync(out)).buffer);
  // Paced on the monotonic clock by the playback thread: about the wall time went by, not more.
  assert.ok(
    pcm.length / RATE > secs - 0.3 && pcm.length / RATE < secs + 0.2,
    `${(pcm.length / RATE).toFixed(2)} s written in ${secs.toFixed(2)} s`,
  );
  // The device got every sample the receiver's buffer gave (period multiples, no JavaScript).
  assert.ok(st.playedSamples >= pcm.length - 4 * 480 && st.playedSamples <= pcm.length + 480);
  assert.ok(st.jitterBuffer.packetsPlayed > 50, `played ${st.jitterBuffer.packetsPlayed}`);
  const last = pcm.subarray(pcm.length - RATE / 2);
  assert.ok(toneShare(last, 600) > 0.9, `600 Hz share ${toneShare(last, 600).toFixed(3)}`);
});

test('a receiver feeds 48 kHz mono playback only; a closed receiver plays silence without stopping the device', async () => {
  const rx = await bound();
  const receiver = new NativeRtpReceiver({
    fd: udpSocketFd(rx)!,
    address: '127.0.0.1',
    port: 9,
    payloadTypes: [111],
    key: new Uint8Array(16),
    salt: new Uint8Array(12),
    jitter: JITTER,
    onDatagram: () => undefined,
  });
  const p16 = new PcmPlayback({
    device: 's16k',
    sampleRate: 16_000,
    channels: 1,
    periodFrames: 160,
    bufferFrames: 640,
  });
  assert.throws(
    () => p16.attachReceiver(receiver),
    (e: unknown) => e instanceof AlsaError && e.code === 'ALSA_ERR_BAD_ARG',
  );
  p16.close();
  const play = new PcmPlayback({
    device: 'splay',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    bufferFrames: 1920,
  });
  play.attachReceiver(receiver);
  receiver.close();
  await waitFor(() => play.stats().deviceFrames >= 480, 'a period played');
  const s = play.stats();
  play.close();
  rx.close();
  assert.equal(s.error, undefined);
  assert.ok(s.deviceFrames >= 480, `device frames ${s.deviceFrames}`);
});
