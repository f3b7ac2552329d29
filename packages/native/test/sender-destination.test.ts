/**
 * NativeRtpSender.setDestination: after an ICE restart the call's stream moves to another socket
 * and remote address (issue 21 §2) with the same SSRC, consecutive sequence numbers and
 * timestamps, and the same SRTP keys: the packets before and after open with one context.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { NativeRtpSender, NativeSrtpGcm, udpSocketFd } from '../index.ts';
import { senderOptions } from './sender-options.ts';
import { waitFor } from './wait.ts';

async function bound(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

interface Got {
  from: string;
  seq: number;
  ts: number;
  ssrc: number;
  buf: Buffer;
}

function listen(sock: Socket, into: Got[]): void {
  sock.on('message', (buf, rinfo) => {
    into.push({
      from: `${rinfo.address}:${rinfo.port}`,
      seq: buf.readUInt16BE(2),
      ts: buf.readUInt32BE(4),
      ssrc: buf.readUInt32BE(8),
      buf,
    });
  });
}

test('setDestination moves the stream to another socket and address, same stream and keys', async () => {
  const oldTx = await bound('127.0.0.1');
  const newTx = await bound('127.0.0.2');
  const rxA = await bound('127.0.0.1');
  const rxB = await bound('127.0.0.1');
  const key = randomBytes(16);
  const salt = randomBytes(12);
  const fd = udpSocketFd(oldTx);
  const fd2 = udpSocketFd(newTx);
  assert.ok(fd !== undefined && fd2 !== undefined);
  const a: Got[] = [];
  const b: Got[] = [];
  listen(rxA, a);
  listen(rxB, b);
  const sender = new NativeRtpSender(
    senderOptions(fd, rxA.address().port, { key, salt, ssrc: 0x1234, sequenceNumber: 65_530 }),
  );
  try {
    sender.startPaced(null);
    await waitFor(() => a.length >= 10, '10 packets on the first path');
    sender.setDestination({ fd: fd2, address: '127.0.0.1', port: rxB.address().port });
    // The old socket is released by the sender: closing ours leaves no descriptor behind.
    oldTx.close();
    await waitFor(() => b.length >= 10, '10 packets on the new path');
    const lastA = a.at(-1);
    const firstB = b[0];
    assert.ok(lastA !== undefined && firstB !== undefined);
    assert.equal(firstB.from, `127.0.0.2:${newTx.address().port}`, 'sent from the new socket');
    assert.equal(firstB.ssrc, 0x1234);
    assert.equal((firstB.seq - lastA.seq) & 0xffff, 1, 'the sequence goes on');
    assert.equal((firstB.ts - lastA.ts) >>> 0, 960, 'the timestamps go on');
    // The same keys open both sides of the move (ROC 1 after the wrap at 65 535).
    const gcm = new NativeSrtpGcm(key, salt);
    for (const p of [lastA, firstB]) {
      const roc = p.seq >= 65_530 ? 0 : 1;
      assert.ok(gcm.openRtp(p.buf, 12, roc) !== null, `packet ${p.seq} opens`);
    }
    gcm.close();
    const before = a.length;
    await waitFor(() => b.length >= 20, '20 packets on the new path');
    assert.equal(a.length, before, 'nothing more on the old path');
  } finally {
    sender.close();
    for (const s of [newTx, rxA, rxB]) s.close();
  }
});

test('setDestination refuses bad input with typed errors, and the werift edge', async () => {
  const tx = await bound('127.0.0.1');
  const fd = udpSocketFd(tx);
  assert.ok(fd !== undefined);
  const sender = new NativeRtpSender(senderOptions(fd));
  const frames = new NativeRtpSender({ onFrame: () => {}, frameSamples: 960, bitrateBps: 32_000 });
  try {
    assert.throws(() => sender.setDestination({ fd, address: 'nope', port: 9 }), {
      code: 'SENDER_ERR_BAD_ARG',
    });
    assert.throws(() => sender.setDestination({ fd: 1_000_000, address: '127.0.0.1', port: 9 }), {
      code: 'SENDER_ERR_BAD_ARG',
    });
    assert.throws(() => sender.setDestination({ fd, address: '127.0.0.1', port: 0 }), {
      code: 'SENDER_ERR_BAD_ARG',
    });
    assert.throws(() => frames.setDestination({ fd, address: '127.0.0.1', port: 9 }), {
      code: 'SENDER_ERR_STATE',
    });
  } finally {
    sender.close();
    frames.close();
    tx.close();
  }
});
