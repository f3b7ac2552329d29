import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  NativeError,
  NativeRtpSender,
  NativeSrtpGcm,
  OpusDecoder,
  RtpSenderError,
  udpSocketFd,
  type NativeRtpSenderOptions,
} from '../index.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

const RATE = 48_000;

interface Rx {
  sock: Socket;
  port: number;
  packets: { at: number; buf: Buffer }[];
}

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

async function receiver(): Promise<Rx> {
  const sock = await bound();
  const rx: Rx = { sock, port: sock.address().port, packets: [] };
  sock.on('message', (buf) => rx.packets.push({ at: performance.now(), buf }));
  return rx;
}

function tone(seconds: number, hz: number, amp: number): Int16Array {
  const pcm = new Int16Array(seconds * RATE);
  for (let i = 0; i < pcm.length; i++)
    pcm[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE));
  return pcm;
}

function rms(pcm: Int16Array): number {
  let e = 0;
  for (const v of pcm) e += v * v;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

async function setup(over: Partial<NativeRtpSenderOptions> = {}) {
  const tx = await bound();
  const rx = await receiver();
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const fd = udpSocketFd(tx);
  assert.ok(fd !== undefined, 'the dgram socket has a file descriptor');
  const sender = new NativeRtpSender({
    fd,
    address: '127.0.0.1',
    port: rx.port,
    ssrc: 0x1234abcd,
    payloadType: 111,
    sequenceNumber: 0xfffe,
    rolloverCounter: 7,
    timestampOffset: 0xfffff000,
    key,
    salt,
    frameSamples: 960,
    bitrateBps: 32_000,
    ...over,
  });
  const gcm = new NativeSrtpGcm(key, salt);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    sender.close();
    tx.close();
    rx.sock.close();
  };
  return { tx, rx, sender, gcm, close };
}

/** Opens packet `i` (sent with seq 0xfffe + i from ROC 7) and parses its RTP header. */
function open(gcm: NativeSrtpGcm, buf: Buffer, i: number) {
  const roc = 7 + (0xfffe + i >= 0x10000 ? 1 : 0);
  const plain = gcm.openRtp(buf, 12, roc);
  assert.ok(plain !== null, `packet ${i} authenticates with ROC ${roc}`);
  return {
    version: plain[0]! >> 6,
    marker: (plain[1]! & 0x80) !== 0,
    payloadType: plain[1]! & 0x7f,
    seq: plain.readUInt16BE(2),
    ts: plain.readUInt32BE(4),
    ssrc: plain.readUInt32BE(8),
    payload: plain.subarray(12),
  };
}

test('paced source: SRTP packets paced at the frame rate, RTP fields, ROC wrap, decodable speech band audio', async () => {
  const { rx, sender, gcm, close } = await setup();
  try {
    const pcm = tone(2, 440, 8000);
    sender.startPaced(pcm);
    await waitFor(() => rx.packets.length >= 50, '50 packets');
    const readAt = performance.now();
    const st = sender.stats();
    close();
    const n = rx.packets.length;
    // 20 ms frames: 50 packets a second, counted by the sender itself over the time since it
    // started. Arrival times stamped by this event loop measured the loop as well: a stall then
    // a burst read 60 packets/s under ThreadSanitizer's slowdown while the C thread kept time.
    const perSec = (st.packets * 1000) / (readAt - st.startedAtMs!);
    assert.ok(
      perSec > 44 && perSec < 57,
      `packets per second: ${perSec.toFixed(1)} (${st.packets})`,
    );
    assert.equal(st.packets >= n, true);
    assert.equal(st.sendErrors, 0);
    assert.ok(st.startedAtMs !== undefined && st.startedAtMs <= performance.now());
    const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
    const out: Int16Array[] = [];
    rx.packets.forEach((p, i) => {
      const h = open(gcm, p.buf, i);
      assert.equal(h.version, 2);
      assert.equal(h.payloadType, 111);
      assert.equal(h.ssrc, 0x1234abcd);
      assert.equal(
        h.seq,
        (0xfffe + i) & 0xffff,
        'sequence numbers follow each other across the wrap',
      );
      assert.equal(h.ts, (0xfffff000 + i * 960) >>> 0, 'timestamp = offset + capture clock');
      assert.equal(h.marker, i === 0, 'marker on the first packet only');
      out.push(dec.decode(h.payload));
    });
    // The tone comes out at about its level (Opus at 32 kbit/s; skip the codec's first frames).
    const level = rms(Int16Array.from(out.slice(5).flatMap((f) => Array.from(f))));
    assert.ok(
      level > (8000 / Math.SQRT2) * 0.7 && level < (8000 / Math.SQRT2) * 1.3,
      `decoded RMS ${level}`,
    );
    // Pacing: the mean spacing is the frame duration.
    const span = rx.packets.at(-1)!.at - rx.packets[0]!.at;
    const mean = span / (n - 1);
    assert.ok(mean > 17 && mean < 23, `mean packet spacing ${mean.toFixed(1)} ms`);
  } finally {
    close();
  }
});

test('mid-stream changes: frame size, mute, gain and bitrate apply to the next frames', async () => {
  const { rx, sender, gcm, close } = await setup();
  try {
    sender.startPaced(tone(5, 300, 6000));
    // Each change waits for 20 more packets, not for a time: the phases below are packet ranges
    // after each change (a few frames of margin for those already encoded or in flight).
    const more = (k: number): Promise<void> => {
      const target = rx.packets.length + k;
      return waitFor(() => rx.packets.length >= target, `${k} more packets`);
    };
    await more(20);
    const atFrame = rx.packets.length;
    sender.setFrameSamples(480);
    sender.setBitrate(12_000);
    await more(20);
    const atMute = rx.packets.length;
    sender.setMuted(true);
    await more(20);
    const atGain = rx.packets.length;
    sender.setMuted(false);
    sender.setGain(0.25);
    await more(20);
    close();
    const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
    const frames = rx.packets.map((p, i) => {
      const h = open(gcm, p.buf, i);
      const pcm = dec.decode(h.payload);
      return { at: p.at, ts: h.ts, samples: pcm.length, bytes: h.payload.length, rms: rms(pcm) };
    });
    // Packets [a + margin, a + 20): after the change at packet a, before the next one.
    const phase = (a: number, margin: number) => frames.slice(a + margin, a + 20);
    const first = phase(0, 5);
    const second = phase(atFrame, 5);
    const muted = phase(atMute, 10);
    const quiet = phase(atGain, 10);
    assert.ok(first.length >= 10 && second.length >= 10 && muted.length >= 5 && quiet.length >= 5);
    assert.ok(
      first.every((f) => f.samples === 960),
      '20 ms frames first',
    );
    assert.ok(
      second.every((f) => f.samples === 480),
      '10 ms frames after the change',
    );
    for (let i = 1; i < frames.length; i++) {
      assert.equal(
        (frames[i]!.ts - frames[i - 1]!.ts) >>> 0,
        frames[i - 1]!.samples,
        'timestamps advance by the frame',
      );
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // 32 kbit/s at 20 ms ≈ 80 bytes; 12 kbit/s at 10 ms ≈ 15 bytes.
    assert.ok(
      mean(second.map((f) => f.bytes)) < 0.5 * mean(first.map((f) => f.bytes)),
      'bitrate down',
    );
    assert.ok(mean(muted.map((f) => f.rms)) < 50, `muted RMS ${mean(muted.map((f) => f.rms))}`);
    const loud = mean(first.map((f) => f.rms));
    const soft = mean(quiet.map((f) => f.rms));
    assert.ok(soft > loud * 0.15 && soft < loud * 0.4, `gain 0.25: ${soft} vs ${loud}`);
  } finally {
    close();
  }
});

test('bad options and use after close are typed errors; the socket stays usable by its owner', async () => {
  const tx = await bound();
  const fd = udpSocketFd(tx)!;
  const good = senderOptions(fd);
  const isCode = (code: string) => (e: unknown) =>
    e instanceof RtpSenderError && e instanceof NativeError && e.code === code;
  assert.throws(
    () => new NativeRtpSender({ ...good, key: new Uint8Array(15) }),
    isCode('SENDER_ERR_BAD_ARG'),
  );
  assert.throws(
    () => new NativeRtpSender({ ...good, address: 'nowhere' }),
    isCode('SENDER_ERR_BAD_ARG'),
  );
  assert.throws(
    () => new NativeRtpSender({ ...good, fd: 0x7fff0000 }),
    isCode('SENDER_ERR_BAD_ARG'),
  );
  assert.throws(() => new NativeRtpSender({ ...good, port: 0 }), isCode('SENDER_ERR_BAD_ARG'));
  const s = new NativeRtpSender(good);
  assert.throws(() => s.setFrameSamples(1000), isCode('SENDER_ERR_BAD_ARG'));
  s.startPaced(null);
  assert.throws(() => s.startPaced(null), isCode('SENDER_ERR_STATE'));
  s.close();
  s.close();
  assert.throws(() => s.setBitrate(20_000), isCode('SENDER_ERR_CLOSED'));
  // The sender sent on a duplicate: the original socket is still open and works.
  const rx = await receiver();
  await new Promise<void>((r, f) =>
    tx.send('still here', rx.port, '127.0.0.1', (e) => (e ? f(e) : r())),
  );
  await waitFor(() => rx.packets.length > 0, 'the datagram');
  assert.equal(rx.packets[0]?.buf.toString(), 'still here');
  tx.close();
  rx.sock.close();
});
