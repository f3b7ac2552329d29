/**
 * The werift edge of the C pipeline: a sender with no socket hands each encoded frame to
 * JavaScript (`onFrame`), a receiver with no socket buffers what JavaScript inserts and plays it
 * on its paced thread. Together: capture → gain → Opus in C, the frame through JavaScript (where
 * werift would make and seal the RTP packet), then the C jitter buffer, decoder and playout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeRtpReceiver, NativeRtpSender, RtpReceiverError, RtpSenderError } from '../index.ts';
import { JITTER } from './receiver-options.ts';
import { waitFor } from './wait.ts';

const RATE = 48_000;

function tone(seconds: number, hz: number, amp: number): Int16Array {
  const pcm = new Int16Array(seconds * RATE);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE));
  }
  return pcm;
}

function rms(pcm: Int16Array): number {
  let s = 0;
  for (const v of pcm) s += v * v;
  return Math.sqrt(s / Math.max(1, pcm.length));
}

test('werift edge: frames from the C sender through JavaScript into the C receiver play the tone', async () => {
  const rx = new NativeRtpReceiver({ jitter: JITTER });
  assert.throws(
    () => rx.start(),
    (e: unknown) => e instanceof RtpReceiverError && e.code === 'RECEIVER_ERR_STATE',
  );
  let seq = 0;
  const frames: { clock: number; marker: boolean; bytes: number }[] = [];
  const tx = new NativeRtpSender({
    frameSamples: 960,
    bitrateBps: 32_000,
    onFrame: (payload, clockSamples, marker) => {
      frames.push({ clock: clockSamples, marker, bytes: payload.length });
      // What werift does in a call: an RTP packet with our sequence number and timestamp.
      rx.insert({
        sequenceNumber: seq++ & 0xffff,
        timestamp: clockSamples,
        ssrc: 0x1234,
        marker,
        payloadType: 111,
        payload,
        headerBytes: 12,
        rolloverCounter: 0,
      });
    },
  });
  try {
    rx.startPaced(true);
    tx.startPaced(tone(2, 1000, 8000));
    await waitFor(() => frames.length >= 75, 'frames through JavaScript', { timeoutMs: 20_000 });
    assert.equal(frames[0]?.marker, true, 'the first frame has the marker');
    assert.ok(frames.slice(1).every((f) => !f.marker));
    frames.forEach((f, i) => assert.equal(f.clock, i * 960, 'timestamps are the capture clock'));
    const st = tx.stats();
    assert.equal(st.sendErrors, 0);
    assert.ok(st.packets >= 75);
    assert.ok(rx.stats().packets >= 70, 'the receiver buffered them');
    const played = rx.takePcm();
    // Past the start-up, the tone is there at about its level (Opus at 32 kbit/s).
    const level = rms(played.subarray(Math.min(played.length, 0.3 * RATE)));
    assert.ok(level > 2000, `played level ${level.toFixed(0)}`);
    const records = rx.takeRecords();
    assert.ok(records.length >= 70 && records.every((r) => r.inserted));
  } finally {
    tx.close();
    rx.close();
  }
});

test('werift edge sender: options are checked, close stops the frames', async () => {
  assert.throws(
    () =>
      new NativeRtpSender({
        frameSamples: 4000,
        bitrateBps: 32_000,
        onFrame: () => {},
      }),
    (e: unknown) => e instanceof RtpSenderError && e.code === 'SENDER_ERR_BAD_ARG',
  );
  let n = 0;
  const tx = new NativeRtpSender({
    frameSamples: 480,
    bitrateBps: 24_000,
    onFrame: () => {
      n++;
      throw new Error('a listener failure stays in the listener');
    },
  });
  tx.startPaced(null);
  await waitFor(() => n >= 5, 'frames');
  tx.close();
  const after = n;
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(n <= after + 1, 'no frame after close');
});
