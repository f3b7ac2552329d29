import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  NativeRtpReceiver,
  NativeRtpSender,
  NativeSrtpGcm,
  RtpReceiverError,
  setUdpReading,
  udpSocketFd,
  type NativeRtpReceiverOptions,
} from '../index.ts';
import { JITTER } from './receiver-options.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

const RATE = 48_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

function tone(seconds: number, hz: number, amp: number): Int16Array {
  const pcm = new Int16Array(seconds * RATE);
  for (let i = 0; i < pcm.length; i++)
    pcm[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE));
  return pcm;
}

/**
 * Share of `pcm`'s energy at `hz` (Goertzel), 0..1, over 10 ms windows so that the phase jumps of
 * time-stretching (expand, accelerate) do not cancel the sum; `hz` must be a multiple of 100.
 */
function toneShare(pcm: Int16Array, hz: number): number {
  const n = 480;
  const c = 2 * Math.cos((2 * Math.PI * hz) / RATE);
  let tonePower = 0;
  let total = 0;
  for (let w = 0; w + n <= pcm.length; w += n) {
    let s1 = 0;
    let s2 = 0;
    for (let i = w; i < w + n; i++) {
      const s0 = (pcm[i] ?? 0) + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      total += (pcm[i] ?? 0) ** 2;
    }
    tonePower += (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / n;
  }
  return total === 0 ? 0 : tonePower / total;
}

interface Forwarded {
  data: Buffer;
  address: string;
  port: number;
  family: string;
}

/** A sender (tx, 20 ms frames of a tone) to a receiver reading socket rx. */
async function setup(over: Partial<NativeRtpReceiverOptions> = {}) {
  const tx = await bound();
  const rx = await bound();
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const libuv: Buffer[] = [];
  rx.on('message', (b) => libuv.push(b));
  const forwarded: Forwarded[] = [];
  assert.ok(setUdpReading(rx, false), 'libuv stops reading the socket');
  const receiver = new NativeRtpReceiver({
    fd: udpSocketFd(rx)!,
    address: '127.0.0.1',
    port: tx.address().port,
    payloadTypes: [111],
    key,
    salt,
    jitter: JITTER,
    onDatagram: (data, address, port, family) => forwarded.push({ data, address, port, family }),
    ...over,
  });
  const sender = new NativeRtpSender(
    senderOptions(udpSocketFd(tx)!, rx.address().port, {
      ssrc: 0xabc,
      key,
      salt,
      sequenceNumber: 0xffc0, // wraps within the first second
      rolloverCounter: 3,
    }),
  );
  const close = (): void => {
    sender.close();
    receiver.close();
    tx.close();
    rx.close();
  };
  return { tx, rx, key, salt, receiver, sender, forwarded, libuv, close };
}

test('socket thread → SRTP open → jitter buffer → paced playout: the tone plays, records and stats add up, ROC wraps', async () => {
  const { receiver, sender, forwarded, libuv, close } = await setup();
  try {
    receiver.learnSsrc(0xabc, 3, 0xffbf);
    receiver.start();
    receiver.startPaced(true);
    sender.startPaced(tone(3, 700, 8000));
    // 75 packets (1.5 s of 20 ms packets), waited for rather than slept for.
    await waitFor(() => receiver.stats().packets >= 75, '75 packets received');
    const pcm = receiver.takePcm();
    const records = receiver.takeRecords();
    const st = receiver.stats();
    const readAtMs = performance.now();
    // Each packet recorded, in order, arrival times on performance.now(); 50 a second over the
    // interval the arrivals span.
    assert.ok(records.length >= 75, `records: ${records.length}`);
    // (From the 6th record on, as the sender test: start-up is the noisiest part.)
    const arrivalSpanMs = records.at(-1)!.arrivalMs - records[5]!.arrivalMs;
    const perSec = ((records.length - 6) * 1000) / arrivalSpanMs;
    assert.ok(perSec > 44 && perSec < 57, `packets per second ${perSec.toFixed(1)}`);
    // The sender is still running: packets that arrive between takeRecords() and stats() are
    // counted in the stats but not in these records (a few at most, on a slow machine).
    assert.ok(
      st.packets >= records.length && st.packets - records.length <= 5,
      `stats count ${st.packets} packets, records ${records.length}`,
    );
    assert.equal(st.authFailures, 0);
    assert.equal(forwarded.length, 0, 'nothing handed back to JavaScript');
    assert.equal(libuv.length, 0, 'libuv read nothing');
    for (let i = 1; i < records.length; i++) {
      const a = records[i - 1]!;
      const b = records[i]!;
      assert.equal(b.sequenceNumber, (a.sequenceNumber + 1) & 0xffff);
      assert.equal((b.timestamp - a.timestamp) >>> 0, 960);
      assert.ok(b.arrivalMs >= a.arrivalMs && b.arrivalMs <= performance.now());
    }
    assert.ok(
      records.some((r) => r.sequenceNumber < 0x100) &&
        records.some((r) => r.sequenceNumber > 0xff00),
      'the sequence number wrapped (ROC 3 → 4)',
    );
    assert.equal(records[0]!.ssrc, 0xabc);
    assert.equal(records[0]!.payloadType, 111);
    assert.ok(records.every((r) => !r.inserted));
    // The paced device played for as long as it has been running (at most a period and the
    // queue ahead of the clock), measured from its start to the stats read.
    const dev = st.playedSamples / RATE;
    const ranS = (readAtMs - (st.startedAtMs ?? readAtMs)) / 1000;
    assert.ok(
      Math.abs(dev - ranS) < 0.1,
      `device clock ${dev.toFixed(3)} s over ${ranS.toFixed(3)} s`,
    );
    assert.ok(pcm.length >= st.playedSamples - 2 * 960 && pcm.length <= st.playedSamples);
    // The tone is there once the buffer has started: ≥ 90 % of the energy in the last second.
    const tail = pcm.subarray(pcm.length - RATE);
    assert.ok(toneShare(tail, 700) > 0.9, `700 Hz share ${toneShare(tail, 700).toFixed(3)}`);
    const jb = st.jitterBuffer;
    assert.equal(jb.packetsReceived, records.length);
    assert.ok(jb.packetsPlayed >= records.length - 4, `played ${jb.packetsPlayed}`);
    assert.equal(jb.lostPackets, 0);
    assert.ok(jb.targetDelayMs >= 20 && jb.targetDelayMs <= 60, `target ${jb.targetDelayMs}`);
    assert.ok(st.startedAtMs !== undefined && st.startedAtMs < performance.now());
    const roc = receiver.ssrcStates();
    assert.deepEqual(roc.length, 1);
    assert.equal(roc[0]!.ssrc, 0xabc);
    assert.equal(roc[0]!.rolloverCounter, 4);
  } finally {
    close();
  }
});

test('what the receiver does not take goes back to JavaScript with its source: other address, unknown SSRC, RTCP, STUN', async () => {
  const { tx, rx, key, salt, receiver, forwarded, close } = await setup();
  const other = await bound();
  try {
    receiver.start();
    const gcm = new NativeSrtpGcm(key, salt);
    const hdr = Buffer.from([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc]);
    const srtp = gcm.sealRtp(hdr, Buffer.from([0xf8, 0xff, 0xfe]), 0);
    const send = (s: Socket, b: Buffer): Promise<void> =>
      new Promise((r) => s.send(b, rx.address().port, '127.0.0.1', () => r()));
    await send(tx, srtp); // SSRC 0xabc not learnt yet
    await send(other, srtp); // another address
    await send(tx, Buffer.from([0x81, 200, 0, 1, 0, 0, 0, 1])); // RTCP (PT 200)
    await send(tx, Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42])); // STUN-like
    await waitFor(() => forwarded.length >= 4, 'four datagrams handed back');
    assert.equal(forwarded.length, 4);
    assert.deepEqual(forwarded[0]!.data, srtp);
    assert.equal(forwarded[0]!.port, tx.address().port);
    assert.equal(forwarded[0]!.address, '127.0.0.1');
    assert.equal(forwarded[0]!.family, 'IPv4');
    assert.equal(forwarded[1]!.port, other.address().port);
    assert.equal(forwarded[2]!.data[1], 200);
    assert.equal(receiver.stats().forwarded, 4);
    // Learnt: now it is opened here; a forged tag is dropped and counted.
    receiver.learnSsrc(0xabc, 0, 0);
    await send(
      tx,
      gcm.sealRtp(
        Buffer.from([0x80, 111, 0, 2, 0, 0, 3, 0xc0, 0, 0, 0x0a, 0xbc]),
        Buffer.from([0xf8, 0xff, 0xfe]),
        0,
      ),
    );
    const forged = Buffer.from(srtp);
    forged[forged.length - 1]! ^= 1;
    forged[3] = 3;
    await send(tx, forged);
    await waitFor(
      () => receiver.stats().packets + receiver.stats().authFailures >= 2,
      'the genuine and the forged packet',
    );
    const st = receiver.stats();
    assert.equal(st.packets, 1);
    assert.equal(st.authFailures, 1);
    assert.equal(forwarded.length, 4);
    gcm.close();
  } finally {
    other.close();
    close();
  }
});

test('insert(): a packet werift received is buffered and recorded like one read here', async () => {
  const { receiver, close } = await setup();
  try {
    receiver.insert({
      sequenceNumber: 9,
      timestamp: 1000,
      ssrc: 5,
      marker: true,
      payloadType: 111,
      payload: Buffer.from([0xf8, 0xff, 0xfe]),
      headerBytes: 12,
      rolloverCounter: 0,
    });
    const [r] = receiver.takeRecords();
    assert.ok(r !== undefined);
    assert.equal(r.sequenceNumber, 9);
    assert.equal(r.ssrc, 5);
    assert.equal(r.marker, true);
    assert.equal(r.payloadBytes, 3);
    assert.equal(r.inserted, true);
    assert.equal(receiver.stats().jitterBuffer.packetsReceived, 1);
  } finally {
    close();
  }
});

/** An SRTP packet of SSRC 0xabc with packet index `index` (ROC · 2^16 + SEQ), 20 ms of Opus. */
function sealed(gcm: NativeSrtpGcm, index: number): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 111;
  header.writeUInt16BE(index % 0x10000, 2);
  header.writeUInt32BE((index * 960) % 0x1_0000_0000, 4);
  header.writeUInt32BE(0xabc, 8);
  return gcm.sealRtp(header, OPUS_20MS, Math.floor(index / 0x10000));
}
const OPUS_20MS = Buffer.from([0xf8, 0xff, 0xfe]);

/**
 * Sends 150 packets 20 ms apart from index `first` on, each followed by `replaysAfter(k)` replays
 * (copies of packets sent in the last 100, or packets sealed long ago: more than 2,048 behind).
 * Returns what reached the jitter buffer once the receiver has seen every datagram.
 */
async function replayRun(withReplays: boolean) {
  const { tx, rx, key, salt, receiver, close } = await setup();
  const gcm = new NativeSrtpGcm(key, salt);
  const first = 3 * 0x10000 + 0xffc0; // the ROC goes 3 → 4 on the way
  const genuine = 150;
  const replays = withReplays ? 1000 : 0;
  let recent = 0;
  let old = 0;
  try {
    receiver.learnSsrc(0xabc, 3, 0xffbf);
    receiver.start();
    receiver.startPaced(false);
    const send = (b: Buffer): Promise<void> =>
      new Promise((r) => tx.send(b, rx.address().port, '127.0.0.1', () => r()));
    const sent: Buffer[] = [];
    let replayed = 0;
    const t0 = performance.now();
    for (let k = 0; k < genuine; k++) {
      // Real time, so that the paced playout plays what arrives: the jitter buffer sees a call.
      const due = t0 + 20 * k;
      while (performance.now() < due) await sleep(Math.max(1, due - performance.now()));
      const b = sealed(gcm, first + k);
      sent.push(b);
      await send(b);
      // 1,000 replays spread over packets 10..149: every fourth one more than 2,048 behind.
      const quota = Math.round((replays * (k - 9)) / (genuine - 10)) - replayed;
      for (let j = 0; k >= 10 && j < quota; j++, replayed++) {
        if (replayed % 4 === 3) {
          old++;
          await send(sealed(gcm, first + k - 2049 - ((replayed * 37) % 20_000)));
        } else {
          recent++;
          await send(sent[k - ((replayed * 7) % Math.min(k + 1, 100))]!);
        }
      }
    }
    assert.equal(replayed, replays);
    const deadline = performance.now() + 20_000;
    const seen = (): number => {
      const st = receiver.stats();
      return st.packets + st.replayed + st.tooOld + st.authFailures;
    };
    while (seen() < genuine + replays && performance.now() < deadline) await sleep(20);
    const records = receiver.takeRecords();
    // A packet werift would hand over again (another address, the first of an SSRC) is refused too.
    const again = receiver.insert({
      sequenceNumber: (first + 100) % 0x10000,
      timestamp: ((first + 100) * 960) % 0x1_0000_0000,
      ssrc: 0xabc,
      marker: false,
      payloadType: 111,
      payload: OPUS_20MS,
      headerBytes: 12,
      rolloverCounter: Math.floor((first + 100) / 0x10000),
    });
    const stats = receiver.stats();
    return { records, stats, recent, old, again };
  } finally {
    gcm.close();
    close();
  }
}

test('replay attack on the C receiver: 1,000 replayed packets, recent and more than 2,048 behind, are dropped before the jitter buffer and counted (RFC 3711 §3.3.2)', async () => {
  const clean = await replayRun(false);
  const attacked = await replayRun(true);
  assert.equal(attacked.recent + attacked.old, 1000);
  const { stats } = attacked;
  // What reached the jitter buffer is what a run without the replays buffered: each packet once,
  // in order; the buffer never reset and saw no duplicate.
  const key = (r: { sequenceNumber: number; timestamp: number; payloadBytes: number }): string =>
    `${r.sequenceNumber}/${r.timestamp}/${r.payloadBytes}`;
  assert.deepEqual(attacked.records.map(key), clean.records.map(key));
  assert.equal(attacked.records.length, 150);
  const jb = stats.jitterBuffer;
  assert.equal(jb.packetsReceived, 150);
  assert.equal(jb.resets, 0, 'no reset');
  assert.equal(jb.duplicates, 0);
  assert.equal(jb.latePackets, clean.stats.jitterBuffer.latePackets);
  assert.equal(stats.authFailures, 0, 'every replay authenticates: they are genuine packets');
  // + 1: the refused insert() at the end of the run.
  assert.equal(stats.replayed, attacked.recent + 1, 'recent replays counted as replayed');
  assert.equal(stats.tooOld, attacked.old, 'old replays counted as too old');
  assert.equal(stats.packets, 150);
  assert.equal(clean.stats.packets, 150);
  assert.equal(attacked.again, false, 'insert() of a packet already buffered is refused');
  assert.equal(clean.again, false);
  assert.equal(clean.stats.replayed, 1, 'the refused insert is counted');
  assert.equal(clean.stats.tooOld, 0);
});

test('learnSsrc hands over the packets received on another path: they count as replays here; a known SSRC only moves forward', async () => {
  const { tx, rx, key, salt, receiver, close } = await setup();
  const gcm = new NativeSrtpGcm(key, salt);
  try {
    const highest = 5 * 0x10000 + 40;
    assert.throws(() => receiver.learnSsrc(0xabc, 5, 40, [-1]), { code: 'RECEIVER_ERR_BAD_ARG' });
    assert.throws(() => receiver.learnSsrc(0xabc, 5, 40, [1.5]), { code: 'RECEIVER_ERR_BAD_ARG' });
    receiver.learnSsrc(0xabc, 5, 40, [highest - 7, highest - 3, highest]);
    receiver.learnSsrc(0xabc, 5, 10); // werift's lagging state: ignored
    receiver.start();
    for (const back of [7, 5, 3, 0, -1]) {
      await new Promise<void>((r) =>
        tx.send(sealed(gcm, highest - back), rx.address().port, '127.0.0.1', () => r()),
      );
    }
    const done = (): boolean => {
      const st = receiver.stats();
      return st.packets + st.replayed + st.tooOld + st.authFailures >= 5;
    };
    for (let i = 0; i < 500 && !done(); i++) await sleep(10);
    const st = receiver.stats();
    assert.equal(st.replayed, 3, 'the three handed over');
    assert.equal(st.packets, 2, 'the two new ones');
    assert.equal(st.authFailures, 0);
    assert.deepEqual(
      receiver.takeRecords().map((r) => r.sequenceNumber),
      [35, 41],
    );
    assert.deepEqual(receiver.ssrcStates(), [
      { ssrc: 0xabc, rolloverCounter: 5, lastSequenceNumber: 41 },
    ]);
  } finally {
    gcm.close();
    close();
  }
});

test('after close the owner reads its socket again; calls after close are typed errors', async () => {
  const { tx, rx, receiver, libuv, close } = await setup();
  receiver.start();
  receiver.close();
  receiver.close();
  assert.ok(setUdpReading(rx, true));
  await new Promise<void>((r) =>
    tx.send(Buffer.from('hi'), rx.address().port, '127.0.0.1', () => r()),
  );
  for (let i = 0; i < 50 && libuv.length === 0; i++) await sleep(10);
  assert.equal(libuv.length, 1);
  assert.throws(
    () => receiver.start(),
    (e: unknown) => e instanceof RtpReceiverError && e.code === 'RECEIVER_ERR_CLOSED',
  );
  assert.throws(() => receiver.learnSsrc(1, 0, 0), { code: 'RECEIVER_ERR_CLOSED' });
  close();
});

test('bad options are typed errors', async () => {
  const rx = await bound();
  const base: NativeRtpReceiverOptions = {
    fd: udpSocketFd(rx)!,
    address: '127.0.0.1',
    port: 9,
    payloadTypes: [111],
    key: new Uint8Array(16),
    salt: new Uint8Array(12),
    jitter: JITTER,
    onDatagram: () => undefined,
  };
  try {
    const bad: [string, Partial<NativeRtpReceiverOptions>][] = [
      ['address', { address: 'nowhere' }],
      ['key', { key: new Uint8Array(5) }],
      ['salt', { salt: new Uint8Array(3) }],
      ['payload types', { payloadTypes: [] }],
      ['payload type > 127', { payloadTypes: [200] }],
      ['port', { port: 0 }],
      ['fd', { fd: 0x7fffffff }],
      ['jitter bounds', { jitter: { ...JITTER, minDelayMs: -1 } }],
      ['jitter tick', { jitter: { ...JITTER, tickMs: 3 } }],
    ];
    for (const [what, over] of bad) {
      assert.throws(
        () => new NativeRtpReceiver({ ...base, ...over }),
        (e: unknown) => e instanceof RtpReceiverError && e.code === 'RECEIVER_ERR_BAD_ARG',
        what,
      );
    }
    const r = new NativeRtpReceiver(base);
    assert.throws(() => r.setBounds(50, 10), { code: 'RECEIVER_ERR_BAD_ARG' });
    assert.throws(() => r.setPeriodSamples(0), { code: 'RECEIVER_ERR_BAD_ARG' });
    r.startPaced(false);
    assert.throws(() => r.startPaced(false), { code: 'RECEIVER_ERR_STATE' });
    r.close();
  } finally {
    rx.close();
  }
});
