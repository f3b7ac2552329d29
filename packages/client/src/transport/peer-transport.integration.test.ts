/**
 * Two real werift peers on 127.0.0.1: offer/answer, trickled candidates as JSON, RTP both ways,
 * identical SAS on both sides, direct path reported.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engineJitterOptions } from '../engine/jitter-options.ts';
import { PeerTransport, type ReceivedRtp } from './peer-transport.ts';

/** Wires two transports together the way signalling would: JSON only. */
async function connectPair(a: PeerTransport, b: PeerTransport): Promise<void> {
  a.on('candidate', (c) => void b.addRemoteCandidate(JSON.parse(JSON.stringify(c)) as never));
  b.on('candidate', (c) => void a.addRemoteCandidate(JSON.parse(JSON.stringify(c)) as never));
  const offer = await a.createOffer();
  const answer = await b.acceptOffer(JSON.parse(JSON.stringify(offer)) as typeof offer);
  await a.acceptAnswer(answer);
  await Promise.all([a.waitConnected(10_000), b.waitConnected(10_000)]);
}

test('two peers exchange Opus RTP both ways with the same SAS over a direct path', async () => {
  const a = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  const b = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  try {
    const gotA: ReceivedRtp[] = [];
    const gotB: ReceivedRtp[] = [];
    a.on('rtp', (p) => gotA.push(p));
    b.on('rtp', (p) => gotB.push(p));
    await connectPair(a, b);
    for (let i = 0; i < 50; i++) {
      a.sendOpus(Buffer.from([0xf8, 0xff, 0xfe, i]), i * 960, i === 0);
      b.sendOpus(Buffer.from([0xf8, 0xfe, i, i]), i * 960, i === 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const deadline = Date.now() + 3000;
    while ((gotA.length < 45 || gotB.length < 45) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gotB.length >= 45, `b received ${gotB.length} of 50`);
    assert.ok(gotA.length >= 45, `a received ${gotA.length} of 50`);
    const first = gotB[0];
    assert.ok(first !== undefined);
    assert.equal(first.payloadType, 111);
    assert.deepEqual([...first.payload.subarray(0, 3)], [0xf8, 0xff, 0xfe]);
    // Consecutive sequence numbers and 960-tick timestamp steps (20 ms at 48 kHz).
    const second = gotB[1];
    assert.ok(second !== undefined);
    assert.equal((second.sequenceNumber - first.sequenceNumber) & 0xffff, 1);
    assert.equal((second.timestamp - first.timestamp) >>> 0, 960);

    // Identity keys are the call layer's; any two distinct keys do for the transport.
    const keyA = new Uint8Array(32).fill(1);
    const keyB = new Uint8Array(32).fill(2);
    const sasA = a.sas(keyA, keyB);
    const sasB = b.sas(keyB, keyA);
    assert.ok(sasA !== undefined && sasB !== undefined);
    assert.deepEqual(sasA, sasB);
    assert.match(sasA.words, /^\w+ \w+ \w+ \w+$/);
    assert.match(sasA.digits, /^\d{6}$/);
    const fa = a.fingerprints();
    const fb = b.fingerprints();
    assert.equal(fa.local, fb.remote);
    assert.equal(fa.remote, fb.local);

    const stats = await a.stats();
    assert.equal(stats.path, 'direct');
    assert.equal(stats.localCandidateType, 'host');
    assert.equal(stats.packetsSent, 50);
    assert.ok(stats.packetsReceived >= 45);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('bad SDP and candidates give typed errors, not crashes', async () => {
  const a = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  try {
    await assert.rejects(a.acceptOffer({ type: 'offer', sdp: 'garbage' }), {
      code: 'TRANSPORT_ERR_BAD_SDP',
    });
    await assert.rejects(a.addRemoteCandidate({ candidate: 42 as unknown as string }), {
      code: 'TRANSPORT_ERR_BAD_CANDIDATE',
    });
  } finally {
    await a.close();
  }
  await assert.rejects(a.createOffer(), { code: 'TRANSPORT_ERR_CLOSED' });
});

test('direct edge: a C sender streams to the peer, RTCP reports still give RTT and loss both ways', async () => {
  const a = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  const b = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  try {
    const gotB: ReceivedRtp[] = [];
    const gotA: ReceivedRtp[] = [];
    b.on('rtp', (p) => gotB.push(p));
    a.on('rtp', (p) => gotA.push(p));
    await connectPair(a, b);
    const options = { frameSamples: 960, bitrateBps: 24_000, jitter: engineJitterOptions(20, 400) };
    const edge = a.openEdge(options);
    assert.equal(edge.kind, 'direct', `edge: ${edge.reason ?? ''}`);
    assert.equal(a.edge, 'direct');
    assert.throws(() => a.openEdge(options), { code: 'TRANSPORT_ERR_CLOSED' });
    const sender = edge.sender;
    const tone = new Int16Array(48_000 * 5);
    for (let i = 0; i < tone.length; i++) tone[i] = Math.round(5000 * Math.sin(i / 10));
    sender.startPaced(tone);
    // b answers with the JavaScript path, so each side's RTCP has something to report on.
    let i = 0;
    const timer = setInterval(
      () => b.sendOpus(Buffer.from([0xf8, 0xff, 0xfe, i & 0xff]), i++ * 960, i === 1),
      20,
    );
    let sa = await a.stats();
    let sb = await b.stats();
    const deadline = Date.now() + 6000;
    while (
      (sa.rttMs === undefined || sb.rttMs === undefined || gotB.length < 100) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
      [sa, sb] = await Promise.all([a.stats(), b.stats()]);
    }
    clearInterval(timer);
    assert.ok(gotB.length >= 100, `b received ${gotB.length}`);
    for (let k = 1; k < gotB.length; k++) {
      assert.equal((gotB[k]!.sequenceNumber - gotB[k - 1]!.sequenceNumber) & 0xffff, 1);
      assert.equal((gotB[k]!.timestamp - gotB[k - 1]!.timestamp) >>> 0, 960);
    }
    assert.ok(gotB.every((p) => p.payloadType === 111 && p.payload.length > 10));
    // a's sender reports come from the native counters (RTT needs b's RR to echo them back);
    // b's receiver reports come from werift's own statistics (0 lost of what a sent).
    assert.ok(sa.rttMs !== undefined && sa.rttMs >= 0 && sa.rttMs < 200, `a RTT ${sa.rttMs}`);
    assert.ok(sb.rttMs !== undefined && sb.rttMs >= 0 && sb.rttMs < 200, `b RTT ${sb.rttMs}`);
    assert.equal(sa.remotePacketsLost, 0);
    assert.equal(sa.remoteFractionLost, 0);
    assert.ok(sa.packetsSent >= gotB.length, `a counts ${sa.packetsSent} sent`);
    // a's receive direction is the C receiver now: b's packets are buffered there, not emitted.
    assert.equal(gotA.length, 0);
    assert.ok(edge.receive.receiver.stats().packets > 50);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
