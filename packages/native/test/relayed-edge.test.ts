/**
 * The relayed edge in C (issue 18): the sender wraps each SRTP packet in TURN ChannelData
 * (RFC 8656 §12.4) to the relay, and the receiver takes the call's SRTP out of the relay's
 * ChannelData on its own channel; anything else (another channel, a truncated frame, STUN, another
 * source) goes back to werift exactly as it came. A test relay between them re-frames each
 * packet, and damages some on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  NativeRtpReceiver,
  NativeRtpSender,
  RtpReceiverError,
  RtpSenderError,
  setUdpReading,
  udpSocketFd,
} from '../index.ts';
import { JITTER } from './receiver-options.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

const SEND_CHANNEL = 0x4001;
const RECV_CHANNEL = 0x4005;

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

function channelData(channel: number, data: Buffer, lengthField = data.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(lengthField, 2);
  return Buffer.concat([h, data]);
}

const seqOf = (rtp: Buffer): number => rtp.readUInt16BE(2);

/** What the test relay does with the i-th packet (by sequence number mod 6). */
const DAMAGE = ['none', 'wrong channel', 'truncated', 'padded', 'none', 'other source'] as const;

test('relayed edge: SRTP as ChannelData both ways; wrong channel, truncated, STUN and other sources go back to werift unchanged, padding is ignored', async () => {
  const tx = await bound(); // the sender's socket (its TURN client's)
  const relay = await bound(); // the TURN server
  const other = await bound(); // someone else
  const rx = await bound(); // the receiver's socket (its TURN client's)
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const seq0 = 0x1000;
  const kinds = new Map<number, (typeof DAMAGE)[number]>();
  const framed: Buffer[] = [];
  relay.on('message', (m) => {
    // What the sender sent: ChannelData on its channel, its length the whole rest.
    assert.equal(m.readUInt16BE(0), SEND_CHANNEL);
    assert.equal(m.readUInt16BE(2), m.length - 4);
    const rtp = m.subarray(4);
    assert.equal(rtp[0]! >> 6, 2);
    const seq = seqOf(rtp);
    const kind = DAMAGE[(seq - seq0) % DAMAGE.length]!;
    kinds.set(seq, kind);
    const port = rx.address().port;
    let out: Buffer;
    if (kind === 'wrong channel') out = channelData(RECV_CHANNEL + 1, rtp);
    else if (kind === 'truncated') out = channelData(RECV_CHANNEL, rtp, rtp.length + 8);
    else if (kind === 'padded')
      out = Buffer.concat([channelData(RECV_CHANNEL, rtp), Buffer.alloc(3, 0xee)]);
    else out = channelData(RECV_CHANNEL, rtp);
    framed.push(out);
    (kind === 'other source' ? other : relay).send(out, port, '127.0.0.1');
  });
  const forwarded: { data: Buffer; port: number }[] = [];
  assert.ok(setUdpReading(rx, false));
  const receiver = new NativeRtpReceiver({
    fd: udpSocketFd(rx)!,
    address: '127.0.0.1',
    port: relay.address().port,
    channel: RECV_CHANNEL,
    payloadTypes: [111],
    key,
    salt,
    jitter: JITTER,
    onDatagram: (data, _address, port) => forwarded.push({ data, port }),
  });
  const sender = new NativeRtpSender(
    senderOptions(udpSocketFd(tx)!, relay.address().port, {
      ssrc: 0x5eed,
      key,
      salt,
      sequenceNumber: seq0,
      channel: SEND_CHANNEL,
    }),
  );
  try {
    receiver.learnSsrc(0x5eed, 0, seq0 - 1);
    receiver.start();
    const pcm = new Int16Array(48_000 * 3);
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin(i / 10));
    sender.startPaced(pcm);
    await waitFor(() => kinds.size >= 60, '60 packets through the relay');
    // A STUN message from the relay (a refresh response) is werift's.
    const stun = Buffer.alloc(20);
    stun.writeUInt16BE(0x0104, 0);
    stun.writeUInt32BE(0x2112a442, 4);
    relay.send(stun, rx.address().port, '127.0.0.1');
    sender.close();
    await waitFor(
      () =>
        receiver.stats().packets + forwarded.length >= kinds.size + 1 &&
        forwarded.some((f) => f.data.length === 20),
      'every datagram taken or forwarded',
    );
    const records = receiver.takeRecords();
    const taken = new Set(records.map((r) => r.sequenceNumber));
    for (const [seq, kind] of kinds) {
      const inBuffer = taken.has(seq);
      const good = kind === 'none' || kind === 'padded';
      assert.equal(inBuffer, good, `seq ${seq} (${kind}) ${inBuffer ? 'taken' : 'not taken'}`);
    }
    // The taken ones opened (the padding was not part of the packet), none failed.
    assert.equal(receiver.stats().authFailures, 0);
    assert.ok([...kinds.values()].filter((k) => k === 'padded').length >= 9);
    // Every other datagram reached werift byte for byte as the relay (or the other) sent it.
    const expected = framed.filter((f) => {
      const kind = kinds.get(seqOf(f.subarray(4)));
      return kind !== 'none' && kind !== 'padded';
    });
    const got = forwarded.filter((f) => f.data.length !== 20);
    assert.equal(got.length, expected.length);
    assert.deepEqual(
      got.map((f) => f.data.toString('hex')).sort(),
      expected.map((f) => f.toString('hex')).sort(),
    );
    assert.ok(got.some((f) => f.port === other.address().port));
    assert.deepEqual(forwarded.find((f) => f.data.length === 20)?.data, stun);
  } finally {
    sender.close();
    receiver.close();
    for (const s of [tx, relay, other, rx]) s.close();
  }
});

test('relayed edge: a channel outside 0x4000..0x7fff is a typed error', async () => {
  const s = await bound();
  const fd = udpSocketFd(s)!;
  const namesChannel = (e: unknown): boolean => e instanceof Error && /channel/.test(e.message);
  try {
    assert.throws(
      () =>
        new NativeRtpReceiver({
          fd,
          address: '127.0.0.1',
          port: 9,
          channel: 0x3fff,
          payloadTypes: [111],
          key: new Uint8Array(16),
          salt: new Uint8Array(12),
          jitter: JITTER,
          onDatagram: () => {},
        }),
      (e: unknown) =>
        e instanceof RtpReceiverError && e.code === 'RECEIVER_ERR_BAD_ARG' && namesChannel(e),
    );
    assert.throws(
      () => new NativeRtpSender(senderOptions(fd, 9, { channel: 0x8000 })),
      (e: unknown) =>
        e instanceof RtpSenderError && e.code === 'SENDER_ERR_BAD_ARG' && namesChannel(e),
    );
  } finally {
    s.close();
  }
});
