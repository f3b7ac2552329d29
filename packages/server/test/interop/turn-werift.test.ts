/**
 * Interop with werift: two RTCPeerConnections with iceTransportPolicy 'relay' get their ICE
 * servers from our relay's `iceServersFor` (real call credentials, strict peer policy, no
 * loopback flag) and exchange SRTP-protected RTP through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import { createTurnRelay } from '../../src/turn/index.ts';
import type { IceServerInfo } from '../../src/relay-types.ts';

function peer(iceServers: IceServerInfo[]): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48_000,
          channels: 2,
          payloadType: 111,
        }),
      ],
    },
    iceServers: iceServers.map((s) => ({
      urls: s.urls.find((u) => u.startsWith('turn:') && u.endsWith('udp')) ?? s.urls[0]!,
      ...(s.username === undefined ? {} : { username: s.username, credential: s.credential ?? '' }),
    })),
    iceTransportPolicy: 'relay',
    iceUseIpv6: false,
  });
}

function waitConnected(pc: RTCPeerConnection, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const timer = setTimeout(
      () => reject(new Error(`not connected after ${ms} ms: ${pc.connectionState}`)),
      ms,
    );
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(timer);
        resolve();
      } else if (s === 'failed') {
        clearTimeout(timer);
        reject(new Error('connection failed'));
      }
    });
  });
}

test(
  'werift relay-only peers exchange RTP through our TURN relay',
  { timeout: 60_000 },
  async () => {
    const calls = new Map<string, readonly [string, string]>([['call-w', ['alice', 'bob']]]);
    const relay = await createTurnRelay({
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 59000, max: 59999 },
      secret: 'werift-secret',
      calls: { partiesOf: (id) => calls.get(id) },
    });
    const now = Date.now();
    const a = peer(relay.iceServersFor('call-w', 'alice', now));
    const b = peer(relay.iceServersFor('call-w', 'bob', now));
    const candidates: string[] = [];
    try {
      a.onIceCandidate.subscribe((c) => {
        if (c) {
          candidates.push(c.candidate);
          void b.addIceCandidate(c.toJSON()).catch(() => {});
        }
      });
      b.onIceCandidate.subscribe((c) => {
        if (c) {
          candidates.push(c.candidate);
          void a.addIceCandidate(c.toJSON()).catch(() => {});
        }
      });
      const ta = a.addTransceiver('audio', { direction: 'sendrecv' });
      const tb = b.addTransceiver('audio', { direction: 'sendrecv' });
      const received = { a: 0, b: 0 };
      a.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => received.a++));
      b.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => received.b++));

      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription!);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription!);
      await Promise.all([waitConnected(a, 30_000), waitConnected(b, 30_000)]);

      let seq = 0;
      for (let i = 0; i < 100 && (received.a < 20 || received.b < 20); i++) {
        const payload = Buffer.alloc(60, i);
        for (const t of [ta, tb]) {
          const header = new RtpHeader({
            payloadType: 111,
            sequenceNumber: seq,
            timestamp: seq * 960,
            marker: false,
          });
          void t.sender.sendRtp(new RtpPacket(header, payload)).catch(() => {});
        }
        seq++;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(received.a >= 20 && received.b >= 20, `received a=${received.a} b=${received.b}`);
      // Only relayed candidates were used, and they are ours.
      assert.ok(candidates.length > 0);
      assert.ok(
        candidates.every((c) => c.includes('typ relay')),
        candidates.join('\n'),
      );
      const s = relay.stats();
      assert.ok(s.allocations >= 2);
      assert.ok(s.packetsRelayed >= 40, `relayed ${s.packetsRelayed}`);
      // Hang-up: allocations go at once and no more media flows.
      calls.delete('call-w');
      relay.callEnded('call-w');
      assert.equal(relay.stats().allocations, 0);
      const before = received.b;
      for (let i = 0; i < 10; i++) {
        const header = new RtpHeader({
          payloadType: 111,
          sequenceNumber: seq++,
          timestamp: seq * 960,
          marker: false,
        });
        void ta.sender.sendRtp(new RtpPacket(header, Buffer.alloc(60))).catch(() => {});
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(received.b, before);
    } finally {
      await Promise.allSettled([a.close(), b.close()]);
      await relay.close();
    }
  },
);
