/**
 * The relayed edge (issue 18): two relay-only peers through the built-in TURN relay. The C sender
 * and receiver run on werift's TURN client sockets and frame the media as ChannelData
 * themselves; werift keeps the allocation, the channel, ICE consent and RTCP (which still give
 * RTT both ways), and JavaScript sees no media packet past the first of the stream.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createTurnRelay } from '../../server/src/turn/index.ts';
import { engineJitterOptions } from '../src/engine/jitter-options.ts';
import type { ReceivedRtp } from '../src/transport/peer-transport.ts';
import { connectedPair } from './helpers/pair.ts';

test('relayed pair: the C edge on the TURN sockets, media both ways, RTCP through werift', async () => {
  const relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    relayAddress: '127.0.0.1',
    port: 0,
    secret: randomBytes(16).toString('hex'),
    bench: true,
  });
  const [a, b] = await connectedPair({
    iceServers: relay.iceServersFor('edge', 'edge', Date.now()),
    relayOnly: true,
  });
  try {
    const js: ReceivedRtp[] = [];
    a.on('rtp', (p) => js.push(p));
    b.on('rtp', (p) => js.push(p));
    const options = { frameSamples: 480, bitrateBps: 32_000, jitter: engineJitterOptions(0, 400) };
    const ea = a.openEdge(options);
    const eb = b.openEdge(options);
    for (const [t, e] of [
      [a, ea],
      [b, eb],
    ] as const) {
      assert.equal(e.kind, 'relayed', `edge: ${e.reason ?? ''}`);
      assert.equal(t.edge, 'relayed');
      assert.equal((await t.stats()).path, 'relayed');
    }
    const tone = new Int16Array(48_000 * 6);
    for (let i = 0; i < tone.length; i++) tone[i] = Math.round(5000 * Math.sin(i / 10));
    ea.sender.startPaced(tone);
    eb.sender.startPaced(tone);
    let [sa, sb] = await Promise.all([a.stats(), b.stats()]);
    const end = performance.now() + 15_000;
    while (
      ea.receive.receiver.stats().packets < 200 ||
      eb.receive.receiver.stats().packets < 200 ||
      sa.rttMs === undefined ||
      sb.rttMs === undefined
    ) {
      assert.ok(performance.now() < end, 'timed out: 200 packets each way and an RTT each side');
      await new Promise((r) => setTimeout(r, 100));
      [sa, sb] = await Promise.all([a.stats(), b.stats()]);
    }
    // 10 ms frames: 100 packets a second each way, all through the relay as ChannelData.
    const ra = ea.receive.receiver.stats();
    const rb = eb.receive.receiver.stats();
    assert.equal(ra.authFailures + rb.authFailures, 0);
    assert.ok(ea.sender.stats().sendErrors === 0 && eb.sender.stats().sendErrors === 0);
    // Only the first packet of each stream went through werift (its SSRC state), none after.
    assert.ok(js.length <= 4, `${js.length} media packets reached JavaScript`);
    assert.ok(sa.rttMs >= 0 && sa.rttMs < 200 && sb.rttMs >= 0 && sb.rttMs < 200);
    assert.ok(sa.packetsSent >= 200 && sb.packetsReceived >= 190, JSON.stringify(sb));
    assert.ok(relay.stats().packetsRelayed >= 400, `relayed ${relay.stats().packetsRelayed}`);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await relay.close();
  }
});
