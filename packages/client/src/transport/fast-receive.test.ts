import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { Prng, SrtpReplayList, type SrtpReplayVerdict } from '@parloir/media';
import { NativeSrtpGcm, OpusEncoder } from '@parloir/native';
import type { RTCPeerConnection, RTCRtpReceiver, RTCRtpSender } from 'werift';
import { MediaJitterBuffer } from '../engine/media-jitter-buffer.ts';
import { guessRoc, installFastReceive } from './fast-receive.ts';

test('ROC guess of RFC 3711 Appendix A around a sequence wrap', () => {
  // Highest seen in the lower half: a high sequence number belongs to the previous cycle.
  assert.equal(guessRoc(3, 10, 11), 3);
  assert.equal(guessRoc(3, 10, 0xfff0), 2);
  assert.equal(guessRoc(0, 10, 0xfff0), 0xffffffff, 'v = ROC − 1 wraps like a 32-bit counter');
  // Highest seen in the upper half: a low sequence number starts the next cycle.
  assert.equal(guessRoc(3, 0xfff0, 5), 4);
  assert.equal(guessRoc(3, 0xfff0, 0xfff1), 3);
  assert.equal(guessRoc(3, 0x9000, 0x1000), 3, 'within half the space: same cycle');
  assert.equal(guessRoc(0xffffffff, 0xfff0, 1), 0);
});

const PEER = { address: '127.0.0.1', port: 40_000, family: 'IPv4' as const };
const SSRC = 0xabc;
const KEY = Buffer.alloc(16, 0x3c);
const SALT = Buffer.alloc(12, 0xc3);
/** First packet index of the call (ROC 3, the sequence number wraps to ROC 4 on the way). */
const FIRST = 3 * 0x10000 + 0xff00;
const FRAMES = 300; // 6 s of 20 ms Opus

/** 6 s of a gliding tone as 20 ms Opus packets (encoded once, the same for every run). */
const opusFrames = ((): Uint8Array[] => {
  const enc = new OpusEncoder({ sampleRate: 48_000, channels: 1, application: 'voip' });
  const out: Uint8Array[] = [];
  let phase = 0;
  for (let k = 0; k < FRAMES; k++) {
    const pcm = new Int16Array(960);
    for (let i = 0; i < pcm.length; i++) {
      phase += (2 * Math.PI * (300 + k)) / 48_000;
      pcm[i] = Math.round(6000 * Math.sin(phase));
    }
    out.push(enc.encode(pcm).slice());
  }
  enc.close();
  return out;
})();

/** A sealed SRTP packet of the peer with packet index `index` carrying Opus frame `frame`. */
function sealed(gcm: NativeSrtpGcm, index: number, frame: number): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = 111;
  h.writeUInt16BE(index % 0x10000, 2);
  h.writeUInt32BE(((((index - FIRST) * 960 + 12_345) % 2 ** 32) + 2 ** 32) % 2 ** 32, 4);
  h.writeUInt32BE(SSRC, 8);
  return gcm.sealRtp(h, opusFrames[frame % FRAMES]!, Math.floor(index / 0x10000));
}

/**
 * One call's receive side on the fast path, driven by a simulated clock: werift's objects are
 * stand-ins with the fields fast-receive.ts reads, the socket an EventEmitter, and what the path
 * delivers goes to the engine's jitter buffer (MediaJitterBuffer, libopus), pulled every 10 ms.
 * Packet k arrives at 20k ms plus a seeded jitter of up to 30 ms (some arrive out of order); with
 * `replays`, 1,000 replays follow packets 10..299: three in four copies of one of the last 100
 * datagrams, one in four a genuine packet sealed long before (2,049 to 22,048 behind).
 * @returns the played PCM, the replays sent, and what went to werift instead
 */
function fastPathRun(replays: boolean, list: SrtpReplayList) {
  const socket = new EventEmitter();
  const toWerift: Buffer[] = [];
  socket.on('message', (b: Buffer) => toWerift.push(b));
  const pc = {
    iceTransports: [
      {
        connection: {
          nominated: {
            protocol: { type: 'stun', transport: { socket } },
            remoteAddr: [PEER.address, PEER.port],
          },
        },
      },
    ],
  };
  const werift = { rolloverCounter: 3, lastSequenceNumber: (FIRST - 1) % 0x10000 };
  const sender = {
    dtlsTransport: {
      srtp: {
        remoteContext: {
          cipher: {
            aeadAuthTagLen: 16,
            srtpSessionKey: KEY,
            srtpSessionSalt: Buffer.concat([SALT, Buffer.alloc(2)]),
          },
          srtpSSRCStates: { [SSRC]: werift },
        },
      },
    },
  };
  const receiver = { remoteStreams: { [SSRC]: { add: () => undefined } }, codecs: { 111: {} } };
  const jb = new MediaJitterBuffer({ minMs: 20, maxMs: 500 });
  let now = 0;
  const uninstall = installFastReceive(
    pc as unknown as RTCPeerConnection,
    sender as unknown as RTCRtpSender,
    receiver as unknown as RTCRtpReceiver,
    (p) => jb.push(p, now),
    list,
  );
  assert.equal(typeof uninstall, 'function', String(uninstall));
  const gcm = new NativeSrtpGcm(KEY, SALT);
  const prng = new Prng(2026);
  const arrivals: { at: number; datagram: Buffer }[] = [];
  const genuine: Buffer[] = [];
  let recent = 0;
  let old = 0;
  for (let k = 0; k < FRAMES; k++) {
    const at = 20 * k + Math.floor(prng.next() * 30);
    const d = sealed(gcm, FIRST + k, k);
    genuine.push(d);
    arrivals.push({ at, datagram: d });
    const quota =
      replays && k >= 10 ? Math.round((1000 * (k - 9)) / (FRAMES - 10)) - recent - old : 0;
    for (let j = 0; j < quota; j++) {
      const n = recent + old;
      if (n % 4 === 3) {
        old++;
        arrivals.push({ at, datagram: sealed(gcm, FIRST + k - 2049 - ((n * 37) % 20_000), n) });
      } else {
        recent++;
        arrivals.push({ at, datagram: genuine[k - ((n * 7) % Math.min(k + 1, 100))]! });
      }
    }
  }
  arrivals.sort((a, b) => a.at - b.at); // stable: the replays stay after their packet
  const pcm = new Int16Array(((20 * FRAMES + 200) / 10) * 480);
  const tick = new Int16Array(480);
  let next = 0;
  for (now = 0; now < 20 * FRAMES + 200; now++) {
    while (next < arrivals.length && arrivals[next]!.at <= now) {
      socket.emit('message', arrivals[next]!.datagram, { ...PEER, size: 0 });
      next++;
    }
    if (now % 10 === 0) {
      jb.pull(tick, now);
      pcm.set(tick, (now / 10) * 480);
    }
  }
  if (typeof uninstall === 'function') uninstall();
  gcm.close();
  return { pcm, recent, old, toWerift, werift };
}

test('replay attack on the fast receive path: 1,000 replays, recent and more than 2,048 behind — the played PCM is that of the call without them, and they are counted (RFC 3711 §3.3.2)', () => {
  const clean = fastPathRun(false, new SrtpReplayList());
  const list = new SrtpReplayList();
  const attacked = fastPathRun(true, list);
  assert.equal(attacked.recent + attacked.old, 1000);
  assert.equal(attacked.toWerift.length, 0, 'every datagram was taken by the fast path');
  // The call itself plays: most of the 6 s is the tone, not silence.
  const loud = clean.pcm.filter((s) => Math.abs(s) > 1000).length;
  assert.ok(loud > 0.5 * clean.pcm.length, `${loud} loud samples of ${clean.pcm.length}`);
  assert.ok(
    Buffer.from(attacked.pcm.buffer).equals(Buffer.from(clean.pcm.buffer)),
    'the same PCM, sample for sample',
  );
  assert.deepEqual(list.stats, { replayed: attacked.recent, tooOld: attacked.old });
  // werift's ROC state followed the genuine packets only (3 → 4 across the wrap).
  assert.equal(attacked.werift.rolloverCounter, 4);
  assert.equal(attacked.werift.lastSequenceNumber, (FIRST + FRAMES - 1) % 0x10000);

  // The attack is real: without the list the same replays change what plays.
  class NoReplayList extends SrtpReplayList {
    override check(): SrtpReplayVerdict {
      return 'fresh';
    }
  }
  const open = fastPathRun(true, new NoReplayList());
  assert.ok(!Buffer.from(open.pcm.buffer).equals(Buffer.from(clean.pcm.buffer)));
});
