/**
 * The call's audio processing in the C pipeline (src/apm_pipe.cc): a far end's signal plays on
 * receiver B's paced device; sender C's paced capture hears it through a simulated room (the
 * pipe's acoustic option) and its capture thread cancels it against the reference B's playback
 * wrote, before Opus; receiver D plays what C sent: what the far end would hear back. Echo
 * cancellation is switched off and on again mid-stream, with the stats following.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Prng, Room } from '@parloir/media';
import {
  ApmError,
  AudioPipe,
  NativeRtpReceiver,
  NativeRtpSender,
  setUdpReading,
  udpSocketFd,
  type AudioPipeSettings,
} from '../index.ts';
import { JITTER } from './receiver-options.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

const RATE = 48_000;

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

/** A sender → receiver pair on loopback (SRTP, paced devices); `close` frees both. */
async function pair(ssrc: number) {
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
    onDatagram: () => {},
  });
  receiver.learnSsrc(ssrc, 0, 0);
  const sender = new NativeRtpSender(
    senderOptions(udpSocketFd(tx)!, rx.address().port, { ssrc, key, salt, sequenceNumber: 1 }),
  );
  return {
    sender,
    receiver,
    close(): void {
      sender.close();
      receiver.close();
      tx.close();
      rx.close();
    },
  };
}

/** Seeded noise with a slow envelope, like speech levels (-20 dBFS RMS or so). */
function farSignal(seconds: number, seed: number): Int16Array {
  const p = new Prng(seed);
  const out = new Int16Array(RATE * seconds);
  for (let i = 0; i < out.length; i++) {
    const env = 0.4 + 0.6 * Math.abs(Math.sin(i / 7000));
    out[i] = Math.round((p.next() * 2 - 1) * 7000 * env);
  }
  return out;
}

function powerDb(x: Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return 10 * Math.log10(Math.max(1e-9, s / Math.max(1, x.length)) / 32768 ** 2);
}

const ON: AudioPipeSettings = {
  engine: 'webrtc',
  aec: true,
  ns: false,
  agc: false,
  aecLevel: 'low',
  nsLevel: 2,
};

test('the capture thread cancels the room echo of what the playback played; AEC off and on mid-stream', async () => {
  const far = await pair(0xa1); // the far end's voice, played by B
  const back = await pair(0xb2); // C's capture (echo only), heard by D
  const room = new Room(3, { rt60: 0.2, delayMs: 40, echoGain: 0.5 });
  const pipe = new AudioPipe(ON, {
    ir: Float32Array.from(room.rir.subarray(0, 960)),
    delayMs: room.delayMs,
    gain: room.echoGain,
  });
  try {
    pipe.attach(back.sender, far.receiver);
    assert.throws(
      () => pipe.attach(back.sender, undefined),
      (e) => e instanceof ApmError && e.code === 'APM_ERR_STATE',
    );
    for (const p of [far, back]) {
      p.receiver.start();
      p.receiver.startPaced(true);
    }
    back.sender.startPaced(null);
    far.sender.startPaced(farSignal(20, 5));
    const played = (): number => back.receiver.stats().playedSamples;
    /** Waits for D to play `s` more seconds; returns what it played meanwhile. */
    const segment = async (s: number): Promise<Int16Array> => {
      back.receiver.takePcm();
      const until = played() + s * RATE;
      await waitFor(() => played() >= until, `${s} s played`, { timeoutMs: s * 1000 + 10_000 });
      return back.receiver.takePcm();
    };
    await segment(3); // the canceller converges
    const on1 = powerDb(await segment(1.5));
    const st1 = pipe.stats();
    pipe.set({ ...ON, aec: false });
    await segment(0.3);
    const off = powerDb(await segment(1.5));
    const st2 = pipe.stats();
    pipe.set(ON);
    await segment(2.5);
    const on2 = powerDb(await segment(1.5));
    const st3 = pipe.stats();
    const line = `echo heard back: on ${on1.toFixed(1)} dBFS, off ${off.toFixed(1)}, on again ${on2.toFixed(1)}`;
    console.log(line, JSON.stringify({ st1, st3 }));
    assert.ok(off > -40, `the room echo is loud without AEC: ${line}`);
    assert.ok(off - on1 >= 15 && off - on2 >= 15, `AEC removes ≥ 15 dB of it: ${line}`);
    assert.equal(st1.engine, 'webrtc');
    assert.ok(st1.converged && st3.converged, 'converged while on');
    assert.ok(st1.measuredErleDb >= 12, `measured ERLE ${st1.measuredErleDb}`);
    assert.equal(st2.engine, 'off', 'nothing on: the engine is freed');
    assert.ok(Number.isNaN(st2.measuredErleDb));
    assert.ok(st3.frames > st1.frames, 'frames processed again once back on');
    assert.ok(st3.referenceMissingFrames <= 20, `reference missing ${st3.referenceMissingFrames}`);
    assert.ok(st3.farSamples > 8 * RATE);
    assert.equal(st3.bypassedFrames, 0);
  } finally {
    pipe.close();
    far.close();
    back.close();
  }
});

test('bad settings and rooms are typed errors', () => {
  const bad = (f: () => unknown, what: string): void =>
    assert.throws(f, (e) => e instanceof ApmError && e.code === 'APM_ERR_BAD_OPTION', what);
  bad(() => new AudioPipe({ ...ON, engine: 'nope' as never }), 'engine');
  bad(() => new AudioPipe({ ...ON, aecLevel: 'max' as never }), 'aecLevel');
  bad(() => new AudioPipe({ ...ON, nsLevel: 7 }), 'nsLevel');
  bad(() => new AudioPipe({ ...ON, aec: 'yes' as never }), 'aec');
  bad(() => new AudioPipe(ON, { ir: new Float32Array(0), delayMs: 10, gain: 0.5 }), 'empty ir');
  bad(() => new AudioPipe(ON, { ir: new Float32Array(8), delayMs: 900, gain: 0.5 }), 'delay');
  bad(() => new AudioPipe(ON, { ir: new Float32Array(8), delayMs: 10, gain: -1 }), 'gain');
  const p = new AudioPipe(ON);
  bad(() => p.set({ ...ON, nsLevel: -1 }), 'set');
  p.close();
  assert.throws(
    () => p.set(ON),
    (e) => e instanceof ApmError && e.code === 'APM_ERR_CLOSED',
  );
});
