import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAlsaConfig } from './alsa-config.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

// Real libasound through the file plugin (read faster than real time): the configuration must
// be in place before the addon first opens a PCM, hence before the dynamic import below.
const RATE = 48_000;
const dir = mkdtempSync(join(tmpdir(), 'parloir-sender-alsa-'));
// 3 s of tone, then 1 s of silence: past the end of its file the plugin gives the last data again.
const TONE = 3 * RATE;
const input = new Int16Array(4 * RATE);
for (let i = 0; i < TONE; i++)
  input[i] = Math.round(7000 * Math.sin((2 * Math.PI * 500 * i) / RATE));
writeFileSync(join(dir, 'in.raw'), input);
process.env.ALSA_CONFIG_PATH = writeAlsaConfig(dir, { capture: { scap: join(dir, 'in.raw') } });
const { AlsaError, NativeRtpSender, NativeSrtpGcm, OpusDecoder, PcmCapture, udpSocketFd } =
  await import('../index.ts');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

test('an ALSA capture thread feeds the native sender: every period after the attach is sent, contiguous, decodable', async () => {
  const tx = await bound();
  const rx = await bound();
  // The file plugin reads faster than real time: room for every packet on the loopback.
  rx.setRecvBufferSize(4 << 20);
  const got: Buffer[] = [];
  rx.on('message', (b) => got.push(b));
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const sender = new NativeRtpSender({
    fd: udpSocketFd(tx)!,
    address: '127.0.0.1',
    port: rx.address().port,
    ssrc: 42,
    payloadType: 111,
    sequenceNumber: 100,
    rolloverCounter: 0,
    timestampOffset: 0,
    key,
    salt,
    frameSamples: 960,
    bitrateBps: 32_000,
  });
  let jsSamples = 0;
  const cap = new PcmCapture({
    device: 'scap',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    bufferFrames: 1920,
    frameSamples: 480,
    onFrame: (f) => {
      jsSamples += f.length;
    },
  });
  cap.attachSender(sender);
  // The file plugin reads the 4 s file as fast as it can, then gives 0 frames (end of file).
  // Until the whole file and some end-of-file silence are through (asserted below if not).
  await waitFor(() => got.length * 960 + jsSamples >= input.length + 5 * 960, 'the file sent', {
    timeoutMs: 10_000,
  }).catch(() => undefined);
  cap.close();
  sender.close();
  tx.close();
  rx.close();
  // Before the attach at most the ring (well under 4 s) can have gone to JavaScript.
  assert.ok(
    got.length * 960 > input.length / 2,
    `packets sent from the capture thread: ${got.length}`,
  );
  const gcm = new NativeSrtpGcm(key, salt);
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  // What the sender got after what went to JavaScript (frames already in the ring at the attach
  // still reach onFrame): the rest of the tone, then silence.
  const expected = (TONE - jsSamples) / 960;
  const levels = got.map((b, i) => {
    const p = gcm.openRtp(b, 12, 0);
    assert.ok(p !== null, `packet ${i} authenticates`);
    const seq = p.readUInt16BE(2);
    assert.equal(p.readUInt32BE(4), ((seq - 100) & 0xffff) * 960, 'timestamps follow the samples');
    // The silence comes faster than the loopback drains; the tone part must be whole.
    if (i < expected + 2) assert.equal(seq, 100 + i, `packet ${i}: contiguous sequence numbers`);
    const pcm = dec.decode(p.subarray(12));
    let e = 0;
    for (const v of pcm) e += v * v;
    return Math.sqrt(e / pcm.length);
  });
  // The tone is in exactly the frames expected: each sample went one way, none both, none lost.
  const toneFrames = levels.filter((l) => l > 2000).length;
  assert.ok(
    Math.abs(toneFrames - expected) <= 2,
    `${toneFrames} tone frames, ${expected} expected (${jsSamples} samples to JS)`,
  );
  const steady = levels.slice(5, Math.floor(expected) - 2);
  const mean = steady.reduce((a, b) => a + b, 0) / steady.length;
  assert.ok(
    mean > (7000 / Math.SQRT2) * 0.7 && mean < (7000 / Math.SQRT2) * 1.3,
    `decoded RMS ${mean}`,
  );
});

test('a sender only takes 48 kHz mono capture: other streams give a typed error', () => {
  const tx = createSocket('udp4');
  tx.bind(0, '127.0.0.1');
  return new Promise<void>((resolve) => {
    tx.once('listening', () => {
      const sender = new NativeRtpSender(senderOptions(udpSocketFd(tx)!));
      const cap = new PcmCapture({
        device: 'scap',
        sampleRate: 16_000,
        channels: 1,
        periodFrames: 160,
        bufferFrames: 640,
        frameSamples: 160,
        onFrame: () => {},
      });
      assert.throws(
        () => cap.attachSender(sender),
        (e: unknown) => e instanceof AlsaError && e.code === 'ALSA_ERR_BAD_ARG',
      );
      cap.close();
      sender.close();
      tx.close();
      resolve();
    });
  });
});
